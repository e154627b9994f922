//! Analytics over metric series: anomaly detection and trends (work in progress).
