"""Recording: call recordings, storage, retention and QA scoring."""
