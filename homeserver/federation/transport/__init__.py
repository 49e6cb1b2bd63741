"""The federation front door: `/_matrix/federation/*` and `/_matrix/key/*` servlets, served on
listeners with the `federation` (or, for keys only, `keys`) resource."""
