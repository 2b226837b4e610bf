//! AWS event-stream codec (application/vnd.amazon.eventstream). Placeholder until the codec lands.
