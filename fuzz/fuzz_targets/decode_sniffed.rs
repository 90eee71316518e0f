//! Fuzzes the public entry point: sniffing, hint fallback and dispatch.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use omnivox_audio::{Format, decode};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let mut opts = common::opts();
    opts.hint = Format::ALL.get(usize::from(pick)).copied();
    common::check(decode(rest, &opts));
});
