//! Ogg Opus (RFC 7845) on the `ogg` crate and libopus, with the
//! specification's start and end trimming: the first `pre_skip` samples are
//! dropped, and the end-of-stream page's granule position cuts the padding
//! of the last packet. Other logical streams in the file are ignored.

use super::Sink;
use super::opus_head::{OpusHead, OpusPackets};
use crate::{Error, Format, Result};
use ogg::reading::{OggReadError, PacketReader};
use std::io::Cursor;

const FMT: Format = Format::Opus;

pub(super) fn decode(bytes: &[u8], sink: &mut Sink) -> Result<()> {
    let mut reader = PacketReader::new(Cursor::new(bytes));
    let first = next(&mut reader)?.ok_or_else(|| Error::truncated(FMT, "no Ogg pages"))?;
    let head = OpusHead::parse(&first.data, FMT)?;
    let serial = first.stream_serial();
    let mut packets = OpusPackets::new(&head, FMT)?;
    sink.start_reporting(packets.rate, 1, 48_000, u32::from(head.channels))?;
    // The comment header (it may span pages).
    match next_of(&mut reader, serial)? {
        Some(p) if p.data.starts_with(b"OpusTags") => {}
        Some(_) => return Err(Error::corrupt(FMT, "the second packet is not OpusTags")),
        None => return Err(Error::truncated(FMT, "no OpusTags header")),
    }
    let mut trim = Trim::new(&head, packets.scale);
    let mut page: Vec<f32> = Vec::new();
    while let Some(p) = next_of(&mut reader, serial)? {
        let pcm = packets.decode(&p.data)?;
        page.extend_from_slice(pcm);
        trim.decoded += pcm.len() as u64;
        if p.last_in_page() || p.last_in_stream() {
            let end = trim.page_end(p.absgp_page(), p.last_in_stream())?;
            trim.emit(&mut page, end, sink)?;
        }
        if p.last_in_stream() {
            return Ok(());
        }
    }
    // A stream cut at a page boundary, without its end-of-stream flag: keep
    // what was decoded (no end trimming is possible).
    trim.emit(&mut page, None, sink)
}

/// Start/end trimming in output samples (at the decode rate).
struct Trim {
    pre_skip: u64,
    scale: u64,
    /// Samples decoded so far, and already passed on or dropped.
    decoded: u64,
    emitted: u64,
    /// The granule position at the start of the stream, once known.
    start_gp: Option<u64>,
}

impl Trim {
    fn new(head: &OpusHead, scale: u64) -> Self {
        let pre_skip = u64::from(head.pre_skip).div_ceil(scale);
        Trim {
            pre_skip,
            scale,
            decoded: 0,
            emitted: 0,
            start_gp: None,
        }
    }

    /// At the end of a page with granule `gp`: the stream's end (in decoded
    /// samples) if this page ends the stream.
    fn page_end(&mut self, gp: u64, last: bool) -> Result<Option<u64>> {
        if gp == u64::MAX {
            // "No packet ends on this page"; nothing to learn.
            return Ok(None);
        }
        let decoded_48 = self.decoded * self.scale;
        if self.start_gp.is_none() {
            // RFC 7845 §4.3: the first audio page's granule minus its samples
            // gives the stream's starting position (negative only if the
            // page also ends the stream).
            self.start_gp = Some(gp.saturating_sub(decoded_48));
        }
        if !last {
            return Ok(None);
        }
        let start = self.start_gp.unwrap_or(0);
        let end_48 = gp.checked_sub(start).ok_or_else(|| {
            Error::corrupt(FMT, "the final granule position is before the stream start")
        })?;
        Ok(Some(end_48 / self.scale))
    }

    /// Passes on the page's samples that fall after the pre-skip and before `end`.
    fn emit(&mut self, page: &mut Vec<f32>, end: Option<u64>, sink: &mut Sink) -> Result<()> {
        let page_start = self.decoded - page.len() as u64;
        let lo = self.pre_skip.max(page_start);
        let hi = end.unwrap_or(self.decoded).min(self.decoded);
        if hi > lo {
            let a = (lo - page_start) as usize;
            let b = (hi - page_start) as usize;
            sink.push_mono(&page[a..b])?;
            self.emitted += (b - a) as u64;
        }
        page.clear();
        Ok(())
    }
}

fn next(reader: &mut PacketReader<Cursor<&[u8]>>) -> Result<Option<ogg::Packet>> {
    reader.read_packet().map_err(map_err)
}

/// The next packet of logical stream `serial`, skipping other streams.
fn next_of(reader: &mut PacketReader<Cursor<&[u8]>>, serial: u32) -> Result<Option<ogg::Packet>> {
    loop {
        match next(reader)? {
            Some(p) if p.stream_serial() != serial => continue,
            other => return Ok(other),
        }
    }
}

fn map_err(e: OggReadError) -> Error {
    match e {
        OggReadError::ReadError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            Error::truncated(FMT, "the last Ogg page is cut short")
        }
        OggReadError::ReadError(io) => Error::corrupt(FMT, format!("Ogg: {io}")),
        other => Error::corrupt(FMT, format!("Ogg: {other}")),
    }
}
