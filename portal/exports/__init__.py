"""Exports of large files (台账), built by a background job; the person gets a page with
the progress and a download link when the file is ready."""
