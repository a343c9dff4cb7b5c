"""Ad copy variants: ``POST /ads/{ad_id}/variants`` jobs (generated in a worker process, checked,
scored against an audience with the serving model) and the audience scoring they share with
``adrank copy``."""
