//! aisle storage engine.
