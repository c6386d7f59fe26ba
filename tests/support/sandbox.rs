//! DreamFactory-shaped sandbox installs (scripts/make-sandbox.sh). To be written.
