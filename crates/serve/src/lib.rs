//! omnivox-serve
