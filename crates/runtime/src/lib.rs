//! omnivox-runtime

pub mod api;
pub mod audio_store;
pub mod demo;
pub mod engine;
pub mod kv;
pub mod sampling;
pub mod speech;
pub mod stop;
#[cfg(feature = "testing")]
pub mod testing;
pub mod thinker_session;
pub mod tools;
