"""Upload files with metadata, then one progress bar per ingest job until each one ends.

The bars live in a fragment that reruns on its own every `POLL_SECONDS` while a job is
queued or running, so the rest of the page stays usable; when the last job ends the
whole page reruns once, which lists the new documents and stops the polling.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from frontend import state
from frontend.client import BackendClient
from frontend.documents.formatting import plural
from frontend.documents.jobs import any_active, is_active, progress_fraction, progress_label
from frontend.documents.metadata import MetadataSyntaxError, parse_metadata_lines
from frontend.errors import BackendError
from frontend.shell import cached_stats

FILE_TYPES = ["md", "txt", "rst", "html", "htm", "pdf"]
POLL_SECONDS = 0.75
JOBS = "document_jobs"  # {job id: the job as last seen}, in upload order
JOB_NOTES = "document_job_notes"  # {job id: why its cancel or poll failed}
UPLOAD_ROUND = "document_upload_round"  # a new uploader key empties the file picker


def tracked_jobs() -> dict[str, dict[str, Any]]:
    return st.session_state.setdefault(JOBS, {})


def job_notes() -> dict[str, str]:
    return st.session_state.setdefault(JOB_NOTES, {})


def upload_form(client: BackendClient, username: str) -> None:
    """Files and their metadata; Upload queues one job per file."""
    round_ = st.session_state.setdefault(UPLOAD_ROUND, 0)
    files = st.file_uploader(
        "Files",
        type=FILE_TYPES,
        accept_multiple_files=True,
        key=f"upload_files_{round_}",
        help="Markdown, text, reStructuredText, HTML or PDF. One ingest job per file.",
    )
    text = st.text_area(
        "Metadata (optional, one key=value per line)",
        key="upload_metadata",
        persist_state="session",
        placeholder="team=docs\nyear=2024",
        height=100,
        help="Added to every chunk of these files, so answers and searches can filter on it. "
        "Numbers and true/false are stored as such.",
    )
    # Disabled until the picked files have reached the app: a press while they are still
    # on their way would find none.
    pressed = st.button(
        "Upload",
        icon=":material/upload:",
        type="primary",
        key="upload",
        disabled=not files,
        help=None if files else "Choose one or more files first.",
    )
    if not pressed or not files:
        return
    try:
        metadata = parse_metadata_lines(text or "")
        with st.spinner(f"Uploading {plural(len(files), 'file')}…"):
            jobs = client.upload_documents(
                [(file.name, file.getvalue()) for file in files], metadata, username
            )
    except (MetadataSyntaxError, BackendError) as exc:
        st.error(str(exc))
        return
    tracked_jobs().update({str(job["id"]): job for job in jobs})
    st.session_state[UPLOAD_ROUND] = round_ + 1
    state.notify("success", f"Queued {plural(len(jobs), 'file')}.")
    st.rerun()


def cancel(client: BackendClient, job_id: str) -> None:
    """Cancel button callback; a job that ended meanwhile (409) is simply shown as it ended."""
    try:
        tracked_jobs()[job_id] = client.cancel_job(job_id)
    except BackendError as exc:
        if exc.status != 409:
            job_notes()[job_id] = f"Could not cancel. {exc}"


def clear_finished() -> None:
    jobs = tracked_jobs()
    for job_id in [job_id for job_id, job in jobs.items() if not is_active(job)]:
        del jobs[job_id]


def poll(client: BackendClient, jobs: dict[str, dict[str, Any]]) -> None:
    """Fetch every job still queued or running in one request; a failure is noted, not fatal.

    One request per poll, whatever the number of files: a request per job every
    `POLL_SECONDS` would pass the server's per-user rate limit with a few dozen uploads.
    """
    active = [job_id for job_id, job in jobs.items() if is_active(job)]
    if not active:
        return
    try:
        fresh = {str(job["id"]): job for job in client.jobs(active)}
    except BackendError as exc:
        for job_id in active:
            job_notes()[job_id] = f"Progress unavailable. {exc}"
        return
    for job_id in active:
        if job_id in fresh:
            jobs[job_id] = fresh[job_id]
        else:  # the backend forgot it (restarted without its database)
            jobs[job_id] = {
                **jobs[job_id],
                "state": "failed",
                "error": "The backend lost this job.",
            }


def draw_job(client: BackendClient, job: dict[str, Any]) -> None:
    job_id = str(job["id"])
    with st.container(key=f"job-{job_id}"):
        bar, button = st.columns([0.76, 0.24], vertical_alignment="bottom")
        bar.progress(progress_fraction(job), text=progress_label(job))
        if is_active(job):
            button.button(
                "Cancel",
                key=f"cancel-{job_id}",
                disabled=bool(job.get("cancel_requested")),
                on_click=cancel,
                args=(client, job_id),
            )
        if job.get("state") == "failed":
            st.error(str(job.get("error") or "The job failed without saying why."))
        note = job_notes().pop(job_id, None)
        if note:
            st.warning(note)


def _job_bars(client: BackendClient) -> None:
    jobs = tracked_jobs()
    was_active = any_active(jobs.values())
    poll(client, jobs)
    for job in jobs.values():
        draw_job(client, job)
    if not any_active(jobs.values()):
        st.button("Clear finished", key="clear_jobs", type="tertiary", on_click=clear_finished)
    if was_active and not any_active(jobs.values()):
        cached_stats.clear()  # new metadata values for the chat's picker
        st.rerun()  # the whole page: list the new documents, stop polling


def job_progress(client: BackendClient) -> None:
    """The bars of this session's uploads, polled only while one of them is still going."""
    jobs = tracked_jobs()
    if not jobs:
        st.caption("Each uploaded file gets a progress bar here while it is ingested.")
        return
    every = POLL_SECONDS if any_active(jobs.values()) else None
    st.fragment(_job_bars, run_every=every)(client)
