"""Exports of the catalog for speech work: Lhotse, HF AudioFolder, RTTM, NeMo, CTM.

Responsibility: read one meeting at a time from the catalog (`bots`, `media`, `speech`,
filtered by an optional SQL `WHERE` on `bots`) and write the files speech tools load:

- `lhotse`: `recordings.jsonl.gz` (each per-speaker file and the mixed recording, with
  their durable storage URIs) and `supervisions.jsonl.gz` (one per speech turn: recording,
  start, duration, speaker, and the transcript's text), read by `lhotse.load_manifest`;
- `audiofolder`: Hugging Face's AudioFolder layout, `metadata.jsonl` (`file_name`,
  speaker, meeting and timing columns) beside the per-speaker files, copied (streamed) or
  symlinked, read by `datasets.load_dataset("audiofolder", data_dir=OUT)`;
- `rttm`: one NIST RTTM file per meeting (`SPEAKER <bot> 1 <start> <dur> <NA> <NA> <spk>
  <NA> <NA>`), diarization ground truth for NeMo, pyannote, dscore, with a UEM file per
  meeting (its scored region) and a pyannote.database `database.yml` whose train,
  development and test lists share no speaker;
- `nemo`: a NeMo ASR `manifest.jsonl`, one utterance per line on its speaker's own track;
- `ctm`: one NIST CTM file of timed words (`words`) per meeting.

Modules: `meetings` reads the catalog (DuckDB, the optional `query` extra, imported only
when an export runs: without it an export is one `QueryUnavailableError` naming what to
install, never an ImportError at import time), `files` streams what is written, `writers`
holds the formats and `export`, `diarization` the rttm export and its protocol, `split`
the speaker-disjoint subsets, `summary` what an export wrote.
"""

from meetstream_catalog.export.meetings import Meeting, meeting_length, meetings, speaker_labels
from meetstream_catalog.export.split import Split, split
from meetstream_catalog.export.summary import ExportSummary
from meetstream_catalog.export.writers import FORMATS, Format, export

__all__ = [
    "FORMATS",
    "ExportSummary",
    "Format",
    "Meeting",
    "Split",
    "export",
    "meeting_length",
    "meetings",
    "speaker_labels",
    "split",
]
