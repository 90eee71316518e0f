//! The OpenAI wire types: JSON request and response bodies, exactly as
//! OpenAI's clients send and read them. Only this crate knows them.

pub mod audio;
pub mod chat_request;
pub mod chat_response;
pub mod models;
pub mod unions;
