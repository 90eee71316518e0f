//! omnivox-runtime
