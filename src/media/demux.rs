//! Reading one stream's packets out of a file, shared by the audio and video decoders: seeking,
//! skipping the other streams' packets, and telling a glitch from a corrupt stream.

use std::path::{Path, PathBuf};

use ffmpeg_next as ffmpeg;
use ffmpeg_next::format::context::Input;

use super::error::{MediaError, StreamKind};
use super::source::{best_stream, open_input};

/// Consecutive undecodable packets after which a stream counts as corrupt rather than glitchy.
const MAX_CONSECUTIVE_BAD_PACKETS: u32 = 64;

/// The file opened for one of its streams (the best of `kind`).
pub(crate) struct StreamDemux {
    path: PathBuf,
    kind: StreamKind,
    input: Input,
    stream_index: usize,
    bad_packets: u32,
    /// The file has ended (or cannot be read further); the decoder was told so.
    draining: bool,
}

impl StreamDemux {
    pub(crate) fn open(path: &Path, kind: StreamKind) -> Result<Self, MediaError> {
        let input = open_input(path)?;
        let Some(stream_index) = best_stream(&input, kind) else {
            return Err(MediaError::MissingStream { path: path.to_path_buf(), kind });
        };
        Ok(Self { path: path.to_path_buf(), kind, input, stream_index, bad_packets: 0, draining: false })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn input(&self) -> &Input {
        &self.input
    }

    pub(crate) fn stream_index(&self) -> usize {
        self.stream_index
    }

    /// Whether the end of the file has been passed to the decoder, so that a decoder asking for
    /// more input has in fact been drained.
    pub(crate) fn is_draining(&self) -> bool {
        self.draining
    }

    /// Moves to the last key frame at or before `secs`. The caller flushes its decoder.
    pub(crate) fn seek(&mut self, secs: f64) -> Result<(), MediaError> {
        let ts = (secs.max(0.0) * f64::from(ffmpeg::ffi::AV_TIME_BASE)) as i64;
        if let Err(error) = self.input.seek(ts, ..ts) {
            // Some files have no index before `ts` (e.g. the first key frame has pts > 0):
            // fall back to the nearest position ffmpeg can reach.
            self.input.seek(ts, ..).map_err(|_| {
                MediaError::corrupt(&self.path, self.kind, format!("cannot seek to {secs:.3}s: {error}"))
            })?;
        }
        self.draining = false;
        Ok(())
    }

    /// The next packet of the stream, or `None` at the end of the file, where `decoder` is told
    /// that no more input comes (its last frames can then be drained).
    pub(crate) fn next_packet(
        &mut self,
        decoder: &mut ffmpeg::decoder::Opened,
    ) -> Result<Option<ffmpeg::Packet>, MediaError> {
        loop {
            // A fresh packet per read: `av_read_frame` overwrites a packet without releasing the
            // buffer it held, so reusing one leaks every skipped packet of the other streams.
            let mut packet = ffmpeg::Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) if packet.stream() != self.stream_index => {}
                Ok(()) => return Ok(Some(packet)),
                // A damaged packet: the demuxer resyncs past it.
                Err(ffmpeg::Error::InvalidData) => self.count_bad_packet(&ffmpeg::Error::InvalidData)?,
                // End of file, or a truncated file whose remaining bytes cannot be read: play
                // what was decodable.
                Err(_) => {
                    self.draining = true;
                    // Sending EOF twice is harmless; its error only says so.
                    let _ = decoder.send_eof();
                    return Ok(None);
                }
            }
        }
    }

    /// Sends `packet` to `decoder`; a packet it rejects counts as bad.
    pub(crate) fn send(
        &mut self,
        decoder: &mut ffmpeg::decoder::Opened,
        packet: &ffmpeg::Packet,
    ) -> Result<(), MediaError> {
        match decoder.send_packet(packet) {
            Ok(()) => {
                self.bad_packets = 0;
                Ok(())
            }
            Err(error) => self.count_bad_packet(&error),
        }
    }

    /// Notes a packet or frame that failed to decode; too many in a row make the stream corrupt.
    pub(crate) fn count_bad_packet(&mut self, error: &ffmpeg::Error) -> Result<(), MediaError> {
        self.bad_packets += 1;
        if self.bad_packets > MAX_CONSECUTIVE_BAD_PACKETS {
            return Err(MediaError::corrupt(
                &self.path,
                self.kind,
                format!("{} packets in a row failed to decode (last: {error})", self.bad_packets),
            ));
        }
        Ok(())
    }
}
