"""The sample copies are served by tests/e2e/test_df_samples.py, which also runs their own tests in
a subprocess from each sample's folder; the suite itself must not collect them."""

collect_ignore_glob = ["samples/*", "samples-v2/*"]
