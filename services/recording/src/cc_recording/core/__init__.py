"""The recording service's pure domain: policy, pauses, retention, signed links and QA scoring."""
