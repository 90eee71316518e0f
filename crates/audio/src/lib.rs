//! omnivox-audio
