//! Fuzzes the headerless readers (pcm16, µ-law, A-law); the first byte picks
//! the format and the rate.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use omnivox_audio::{Format, decode_as};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let format = [Format::Pcm16, Format::Mulaw, Format::Alaw][usize::from(pick % 3)];
    let mut opts = common::opts();
    opts.raw_rate = [None, Some(8_000), Some(44_100), Some(0), Some(1)][usize::from(pick / 3 % 5)];
    common::check(decode_as(rest, format, &opts));
});
