//! Prometheus metrics, kept in memory and written out in the text exposition format
//! by `GET /metrics`.
