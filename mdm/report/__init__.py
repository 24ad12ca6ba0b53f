"""The SyncHub summary page: data-quality pass rates, records per outcome, match scores (``summary``)."""

from mdm.report.summary import REPORT_FILE, default_reports_dir, write_report

__all__ = ["REPORT_FILE", "default_reports_dir", "write_report"]
