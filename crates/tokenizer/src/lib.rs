//! omnivox-tokenizer
