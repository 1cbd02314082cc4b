"""The lab: composition of the stand-ins, the page's procedures as replayable steps,
artifact formats, the CLI and the pytest plugin."""
