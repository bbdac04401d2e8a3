//! aisle HTTP/1.1 pieces.
