//! Fuzzes the Mp4 reader directly (no sniffing), with tight limits.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use omnivox_audio::{Format, decode_as};

fuzz_target!(|data: &[u8]| {
    common::check(decode_as(data, Format::Mp4, &common::opts()));
});
