//! omnivox-codec
