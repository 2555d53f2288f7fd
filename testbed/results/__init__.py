"""Results of a run: the bundle (results.json, manifest.json, junit.xml, raw/) and its report."""
