"""One meeting's files to rows: join the manifests by participant, commit the bot's rows.

The capture's last step (`meetstream_catalog.capture` hands it `Archived`), and the two
rows written without manifests: `in_progress` the moment a bot exists, `failed` when its
capture failed. Blocking (delta-rs): callers run it in a thread. Traps guarded here:

- Denied / NotAllowed / Error bots and "no streams available" are outcomes to catalogue,
  not exceptions;
- a failure row never replaces a finished capture's rows;
- the bot may list itself as an attendee: it is not a participant without media.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from meetstream_catalog import catalog
from meetstream_catalog.archive.files import ArchivedMedia
from meetstream_catalog.catalog import intents, join, speech, utterances
from meetstream_catalog.catalog.names import normalize_name
from meetstream_catalog.catalog.schema import Outcome
from meetstream_catalog.job import Archived, BotLeft, CaptureJob, CaptureResult
from meetstream_catalog.meetstream.bot import BotState


def outcome_for(state: BotState, archived: Archived, bot_id: str) -> tuple[Outcome, str]:
    """(outcome, reason) for the bots table: the reason is one line a person can act on;
    each missing file is named once, in the bot's `missing_files`."""
    manifests = archived.manifests
    if state is BotState.DENIED:
        return Outcome.DENIED, "The host refused the bot entry."
    if state is BotState.NOT_ALLOWED:
        return Outcome.NOT_ALLOWED, "The bot was never admitted from the waiting room."
    if archived.missing:
        missing, total = len(archived.missing), len(archived.media) + len(archived.missing)
        # A meeting with media of which nothing was archived is not "partial": nothing is safe.
        outcome = Outcome.PARTIAL if archived.media else Outcome.FAILED
        return outcome, (
            f"{missing} of {total} media files not archived (first: {archived.missing[0]}); "
            f"the list is in missing_files. Complete it with: meetstream-catalog collect "
            f"{bot_id} (archived files are not copied again)."
        )
    audio_ok = manifests.audio is not None and manifests.audio.available
    video_ok = manifests.video is not None and manifests.video.available
    if state is BotState.ERROR:
        return Outcome.ERROR, "The bot's session crashed; media may be partial."
    if not audio_ok and not video_ok:
        messages = [m.message for m in (manifests.audio, manifests.video) if m and m.message]
        return Outcome.NO_MEDIA, " ".join(messages) or "No audio or video streams available."
    return Outcome.CAPTURED, ""


def catalogue(job: CaptureJob, bot_id: str, left: BotLeft, archived: Archived) -> CaptureResult:
    """Join the manifests and commit this bot's rows (replacing any earlier ones)."""
    manifests = archived.manifests
    link = job.meeting_link or left.meeting_link or ""
    bot_name = job.bot_name or left.bot_name or ""
    platform = left.platform or job.platform
    # The bot may list itself as a participant; it is not an attendee without media.
    attendees = [
        a
        for a in manifests.attendees
        if normalize_name(a.display_name or "") != normalize_name(bot_name)
    ]
    turns = speech.merge_turns(manifests.timeline)
    participants = join.join_participants(
        bot_id,
        manifests.audio,
        manifests.video,
        archived.media,
        platform=platform,
        attendees=attendees,
        talk_by_device=speech.talk_by_device(turns),
    )
    participants, turn_rows = speech.attribute(
        bot_id, turns, participants, attendees, timeline_known=manifests.timeline is not None
    )
    said = _transcript_rows(bot_id, left, archived, participants, turn_rows)
    outcome, reason = outcome_for(left.state, archived, bot_id)
    record = catalog.bot_record(
        bot_id=bot_id,
        request_id=job.key,
        bot_name=bot_name,
        meeting_link=link,
        platform=platform,
        final_status=left.state.value,
        outcome=outcome.value,
        reason=reason,
        created_at=job.created_at,
        left_at=left.left_at,
        join_at=job.join_at,
        audio=manifests.audio,
        video=manifests.video,
        media=archived.media,
        participants=participants,
        custom_attributes=job.custom_attributes,
        run_id=job.run_id,
        source=job.source,
        speaker_timeline=manifests.timeline_status,
        speech_turns=len(turn_rows) if manifests.timeline is not None else None,
        missing_files=archived.missing,
        transcript={
            "transcript": manifests.transcript_status,
            "transcript_id": manifests.transcript_id,
            "transcript_provider": left.transcript_provider if manifests.transcript_id else None,
            "utterances": len(said[0]) if manifests.transcript is not None else None,
        },
    )
    transcript = said if manifests.transcript_status is not None else None
    _write(job, record, archived.media, participants, turn_rows, transcript)
    return _result(record, missing=len(archived.missing))


def _transcript_rows(
    bot_id: str,
    left: BotLeft,
    archived: Archived,
    participants: Sequence[join.ParticipantRow],
    turns: Sequence[speech.SpeechRow],
) -> tuple[list[utterances.UtteranceRow], list[utterances.WordRow]]:
    """The transcript's utterances, each attributed to a participant (empty without one)."""
    manifests = archived.manifests
    if manifests.transcript is None:
        return [], []
    return utterances.attribute(
        bot_id,
        manifests.transcript,
        speakers=utterances.speakers_from(p.model_dump() for p in participants),
        turns=utterances.turns_from(t.model_dump() for t in turns),
        provider=left.transcript_provider,
        transcript_id=manifests.transcript_id,
    )


def record_intents(jobs: Sequence[CaptureJob]) -> None:
    """Before any create call: append each job's intent (its request and key) in one
    commit, so a crash from here on leaves something that knows the bot may exist."""
    now = dt.datetime.now(dt.UTC)
    catalog_root = jobs[0].catalog_root if jobs else None
    if catalog_root is not None:
        intents.record(catalog_root, [_intent(job, now) for job in jobs])


def settle_intent(job: CaptureJob, state: intents.IntentState) -> None:
    """Close the job's intent: MeetStream refused its create call, so no bot exists."""
    intents.settle(job.catalog_root, _intent(job, dt.datetime.now(dt.UTC)), state)


def _intent(job: CaptureJob, now: dt.datetime) -> intents.Intent:
    if job.request is None:
        raise ValueError("this job collects an existing bot; it has no request to create one")
    expires_at = now + dt.timedelta(seconds=job.leave_deadline_seconds)
    return intents.Intent.of(
        job.request, key=job.key, expires_at=expires_at, run_id=job.run_id, written_at=now
    )


def catalogue_in_progress(job: CaptureJob, bot_id: str, expected_end: dt.datetime) -> None:
    """Record that the bot exists, before any wait: a crash from here on loses no bot.

    Only its `bots` row: a bot just created has no rows elsewhere, and two empty
    replacements (`media`, `participants`) cost two commits and their reads per meeting.
    """
    record = _request_record(job, bot_id, Outcome.IN_PROGRESS, expected_end_at=expected_end)
    catalog.write_bot_row(job.catalog_root, record)


def catalogue_failure(job: CaptureJob, bot_id: str, reason: str) -> bool:
    """Catalogue a bot whose capture failed, unless it already has a better row.

    An earlier finished capture's rows beat a failure row with no media, so they are kept;
    an `in_progress` (or earlier `failed`) row is replaced. Returns whether it wrote.
    """
    known = catalog.read_table(
        "bots",
        job.catalog_root,
        filters=[("bot_id", "==", bot_id)],
        columns=["outcome"],
    )
    if any(o not in (Outcome.IN_PROGRESS, Outcome.FAILED) for o in known["outcome"]):
        return False
    record = _request_record(job, bot_id, Outcome.FAILED, reason=reason)
    _write(job, record, [], [])
    return True


def _request_record(
    job: CaptureJob,
    bot_id: str,
    outcome: Outcome,
    *,
    reason: str | None = None,
    expected_end_at: dt.datetime | None = None,
) -> catalog.BotRecord:
    """A `bots` row from what the job says (no manifests): in progress, or failed."""
    return catalog.bot_record(
        bot_id=bot_id,
        request_id=job.key,
        bot_name=job.bot_name,
        meeting_link=job.meeting_link,
        platform=job.platform,
        final_status=None if outcome is Outcome.IN_PROGRESS else BotState.UNKNOWN.value,
        outcome=outcome.value,
        reason=reason,
        created_at=job.created_at,
        join_at=job.join_at,
        custom_attributes=job.custom_attributes,
        run_id=job.run_id,
        expected_end_at=expected_end_at,
        source=job.source,
    )


def _write(
    job: CaptureJob,
    record: catalog.BotRecord,
    media: Sequence[ArchivedMedia],
    participants: Sequence[join.ParticipantRow],
    turns: Sequence[speech.SpeechRow] | None = None,
    transcript: tuple[list[utterances.UtteranceRow], list[utterances.WordRow]] | None = None,
) -> None:
    catalog.write_bot(
        job.catalog_root,
        bot=record,
        media=media,
        participants=participants,
        speech=turns,
        transcript=transcript,
    )


def _result(record: catalog.BotRecord, *, missing: int = 0) -> CaptureResult:
    return CaptureResult(
        meeting=record.meeting_link_redacted or "",
        bot_id=record.bot_id,
        outcome=Outcome(record.outcome or Outcome.FAILED),
        reason=record.reason or "",
        platform=record.platform,
        final_status=record.final_status,
        audio_participants=record.audio_participants,
        webcam_streams=record.webcam_streams,
        screenshare_streams=record.screenshare_streams,
        media_files=record.media_files,
        media_bytes=record.media_bytes,
        missing_files=missing,
        transcript=record.transcript,
    )
