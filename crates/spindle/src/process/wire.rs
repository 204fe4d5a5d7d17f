// Layer 10 (process): worker processes, over the futures layer.
//! The wire between a pool and its workers: length-prefixed frames over two pipes.
//!
//! A frame is a 4-byte little-endian length, then that many bytes: a postcard-encoded
//! header ([`Request`] to the worker, [`Reply`] back), then the task's argument or
//! result, itself postcard-encoded by the task's typed handle. A writer stops encoding
//! as soon as the frame would pass its limit ([`encode_within`]), so an enormous value
//! costs at most the limit in memory; a reader checks the length against its limit
//! before it allocates anything; and every malformed frame is a [`FrameError`] value,
//! never a panic.

use std::fmt;
use std::io::{self, Read};

use serde::{Deserialize, Serialize};

/// The default largest frame either side accepts: 64 MiB.
pub(crate) const DEFAULT_MAX_FRAME: usize = 64 << 20;

/// The length prefix of every frame, in bytes.
pub(crate) const PREFIX: usize = 4;

/// The header of a frame to a worker; the task's argument bytes follow it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request<'a> {
    /// The registered name of the task to run.
    pub(crate) task: &'a str,
    /// The argument is a sequence: run the task on each item, and reply with the
    /// sequence of their outcomes (`Result<O, String>`, the error a panic message).
    pub(crate) chunked: bool,
    /// Reply [`Reply::Started`] before running the task: the parent is tracing it, and
    /// learns this way when its worker started it (a task queued behind another in the
    /// pipe starts when the worker gets to it, which only the worker knows).
    pub(crate) announce: bool,
    /// The pool's initializer: if it fails, the worker replies and exits, starting
    /// nothing more (the pool is broken).
    pub(crate) initializer: bool,
}

/// The header of a frame from a worker; for `Done`, the result bytes follow it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply<'a> {
    /// The task returned; its encoded result follows.
    Done,
    /// The task panicked, with this message.
    Panicked { message: &'a str },
    /// The worker could not run the task (unknown name, undecodable argument, result
    /// over the frame limit): why.
    Failed { message: &'a str },
    /// The worker is set up and serving: its first frame.
    Ready,
    /// The worker starts the task at the head of its pipe now, as its request asked
    /// (`announce`); the task's own reply follows.
    Started,
    /// The task returned a result that, encoded, would pass the frame limit: it was
    /// not sent.
    ResultTooLarge,
}

/// The header `Reply::Done` encodes to: postcard writes a variant as its index.
const DONE_HEADER: [u8; 1] = [0];

/// A malformed, oversized or cut-off frame, or the pipe failing.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// The other side closed the pipe between two frames.
    Closed,
    /// The pipe ended inside a frame.
    Truncated { expected: usize, got: usize },
    /// A length prefix over the limit: refused before anything was allocated.
    TooLarge { len: usize, limit: usize },
    /// The bytes of a frame are not a valid header.
    Garbage(String),
    /// Reading or writing the pipe failed.
    Io(io::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Closed => f.write_str("the pipe was closed"),
            FrameError::Truncated { expected, got } => write!(
                f,
                "truncated frame: the pipe ended after {got} of {expected} bytes"
            ),
            FrameError::TooLarge { len, limit } => write!(
                f,
                "frame of {len} bytes refused: over the limit of {limit} bytes"
            ),
            FrameError::Garbage(why) => write!(f, "garbage frame: {why}"),
            FrameError::Io(e) => write!(f, "pipe error: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// A frame being built: the length prefix is filled in by [`FrameBuf::finish`].
pub(crate) struct FrameBuf {
    bytes: Vec<u8>,
}

impl FrameBuf {
    /// A frame holding `header`, ready for a body to be appended.
    pub(crate) fn new(header: &impl Serialize) -> FrameBuf {
        // Room for a task's name and a small argument: one allocation, not several.
        FrameBuf::reuse(Vec::with_capacity(128), header)
    }

    /// As [`FrameBuf::new`], reusing `bytes`' allocation.
    pub(crate) fn reuse(mut bytes: Vec<u8>, header: &impl Serialize) -> FrameBuf {
        bytes.clear();
        bytes.extend_from_slice(&[0; PREFIX]);
        let bytes = postcard::to_extend(header, bytes).expect("a header always encodes");
        FrameBuf { bytes }
    }

    /// A `Reply::Done` frame whose body is still to be appended.
    pub(crate) fn done(mut bytes: Vec<u8>) -> FrameBuf {
        bytes.clear();
        bytes.extend_from_slice(&[0; PREFIX]);
        bytes.extend_from_slice(&DONE_HEADER);
        FrameBuf { bytes }
    }

    /// Appends `value`, postcard-encoded, unless the frame would pass `limit` bytes
    /// (the length a reader checks: without the prefix).
    pub(crate) fn push<T: Serialize + ?Sized>(
        mut self,
        value: &T,
        limit: usize,
    ) -> Result<FrameBuf, EncodeError> {
        encode_within(value, &mut self.bytes, limit.saturating_add(PREFIX))?;
        Ok(self)
    }

    /// The buffer, for a body appended by other means.
    pub(crate) fn bytes_mut(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    /// Writes the length prefix; refuses a frame over `limit` (the length counted is
    /// the one a reader checks: header and body, without the prefix).
    pub(crate) fn finish(mut self, limit: usize) -> Result<Vec<u8>, FrameError> {
        let len = self.bytes.len() - PREFIX;
        match u32::try_from(len) {
            Ok(n) if len <= limit => {
                self.bytes[..PREFIX].copy_from_slice(&n.to_le_bytes());
                Ok(self.bytes)
            }
            _ => Err(FrameError::TooLarge { len, limit }),
        }
    }
}

/// Why a value was not encoded.
#[derive(Debug)]
pub(crate) enum EncodeError {
    /// The bytes would pass the limit: encoding stopped there.
    TooLarge,
    /// The value's `Serialize` failed.
    Serde(postcard::Error),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooLarge => f.write_str("over the frame limit"),
            EncodeError::Serde(e) => write!(f, "it does not encode: {e}"),
        }
    }
}

/// Appends `value`, postcard-encoded, to `out`, but never lets `out` grow past
/// `max_len` bytes: a value that would is refused as soon as it gets there, and `out`
/// is left as it was.
pub(crate) fn encode_within<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
    max_len: usize,
) -> Result<(), EncodeError> {
    let start = out.len();
    let mut over = false;
    let written = postcard::serialize_with_flavor(
        value,
        Within {
            out: &mut *out,
            max_len,
            over: &mut over,
        },
    );
    match written {
        Ok(()) => Ok(()),
        Err(e) => {
            out.truncate(start);
            Err(if over {
                EncodeError::TooLarge
            } else {
                EncodeError::Serde(e)
            })
        }
    }
}

/// A postcard output that refuses to grow past `max_len` bytes.
struct Within<'a> {
    out: &'a mut Vec<u8>,
    max_len: usize,
    over: &'a mut bool,
}

impl postcard::ser_flavors::Flavor for Within<'_> {
    type Output = ();

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        if self.out.len() + data.len() > self.max_len {
            *self.over = true;
            return Err(postcard::Error::SerializeBufferFull);
        }
        self.out.extend_from_slice(data);
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        if self.out.len() >= self.max_len {
            *self.over = true;
            return Err(postcard::Error::SerializeBufferFull);
        }
        self.out.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Reads one frame into `buf` (replacing its contents), checking the length prefix
/// against `limit` before growing `buf`.
pub(crate) fn read_frame(
    r: &mut impl Read,
    buf: &mut Vec<u8>,
    limit: usize,
) -> Result<(), FrameError> {
    let mut prefix = [0u8; PREFIX];
    let got = read_full(r, &mut prefix)?;
    if got == 0 {
        return Err(FrameError::Closed);
    }
    if got < PREFIX {
        return Err(FrameError::Truncated {
            expected: PREFIX,
            got,
        });
    }
    let len = u32::from_le_bytes(prefix) as usize;
    if len > limit {
        return Err(FrameError::TooLarge { len, limit });
    }
    buf.clear();
    buf.resize(len, 0);
    let got = read_full(r, buf)?;
    if got < len {
        return Err(FrameError::Truncated {
            expected: PREFIX + len,
            got: PREFIX + got,
        });
    }
    Ok(())
}

/// The length of the frame at the start of `buffered` (without its prefix), if the
/// whole frame is there and within `limit`.
pub(crate) fn whole_frame(buffered: &[u8], limit: usize) -> Option<usize> {
    let prefix = buffered.get(..PREFIX)?;
    let len = u32::from_le_bytes(prefix.try_into().expect("PREFIX bytes")) as usize;
    (len <= limit && buffered.len() - PREFIX >= len).then_some(len)
}

/// Reads until `buf` is full or the pipe ends; how many bytes arrived.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, FrameError> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    Ok(filled)
}

/// Splits a frame into its header and the body after it.
pub(crate) fn split<'a, H: Deserialize<'a>>(frame: &'a [u8]) -> Result<(H, &'a [u8]), FrameError> {
    postcard::take_from_bytes(frame).map_err(|e| FrameError::Garbage(format!("bad header ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(header: &impl Serialize, body: &impl Serialize) -> Vec<u8> {
        FrameBuf::new(header)
            .push(body, DEFAULT_MAX_FRAME)
            .unwrap()
            .finish(DEFAULT_MAX_FRAME)
            .unwrap()
    }

    #[test]
    fn a_request_round_trips() {
        let bytes = frame(
            &Request {
                task: "m::square",
                chunked: false,
                announce: true,
                initializer: false,
            },
            &(7u64, "x".to_owned()),
        );
        let mut buf = Vec::new();
        read_frame(&mut &bytes[..], &mut buf, DEFAULT_MAX_FRAME).unwrap();
        let (req, body): (Request<'_>, _) = split(&buf).unwrap();
        assert_eq!(req.task, "m::square");
        assert!(req.announce);
        let arg: (u64, String) = postcard::from_bytes(body).unwrap();
        assert_eq!(arg, (7, "x".to_owned()));
    }

    #[test]
    fn done_header_is_what_postcard_writes() {
        assert_eq!(postcard::to_stdvec(&Reply::Done).unwrap(), DONE_HEADER);
    }

    #[test]
    fn an_oversized_prefix_is_refused_before_allocating() {
        let bytes = (u32::MAX).to_le_bytes();
        let mut buf = Vec::new();
        let err = read_frame(&mut &bytes[..], &mut buf, 1024).unwrap_err();
        assert!(
            matches!(err, FrameError::TooLarge { len, limit: 1024 } if len == u32::MAX as usize)
        );
        assert_eq!(buf.capacity(), 0);
        assert!(err.to_string().contains("over the limit of 1024 bytes"));
    }

    #[test]
    fn an_oversized_frame_is_refused_when_built() {
        let err = FrameBuf::new(&Request {
            task: "t",
            chunked: false,
            announce: false,
            initializer: false,
        })
        .push(&vec![0u8; 10], 1024)
        .unwrap()
        .finish(8)
        .unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { limit: 8, .. }));
    }

    #[test]
    fn encoding_stops_at_the_limit() {
        // Far larger than the limit: encoding it whole would allocate a gigabyte.
        let huge = vec![0u8; 1 << 30]; // zeroed pages: no memory until written
        let mut out = vec![9, 9];
        let err = encode_within(&huge, &mut out, 4096).unwrap_err();
        assert!(matches!(err, EncodeError::TooLarge));
        assert_eq!(out, [9, 9], "left as it was");
        assert!(out.capacity() <= 8192, "grew to {}", out.capacity());
        let err = FrameBuf::new(&Reply::Done).push(&huge, 1000).err().unwrap();
        assert!(matches!(err, EncodeError::TooLarge));
        // A value that fits is encoded as postcard encodes it.
        let mut out = Vec::new();
        encode_within(&(5u32, "x"), &mut out, 100).unwrap();
        assert_eq!(out, postcard::to_stdvec(&(5u32, "x")).unwrap());
    }

    #[test]
    fn a_cut_off_frame_is_truncated_and_a_clean_end_is_closed() {
        let bytes = frame(
            &Request {
                task: "t",
                chunked: false,
                announce: false,
                initializer: false,
            },
            &1u8,
        );
        let mut buf = Vec::new();
        let cut = &bytes[..bytes.len() - 1];
        let err = read_frame(&mut &cut[..], &mut buf, DEFAULT_MAX_FRAME).unwrap_err();
        assert!(matches!(err, FrameError::Truncated { .. }), "{err}");
        let err = read_frame(&mut &bytes[..2], &mut buf, DEFAULT_MAX_FRAME).unwrap_err();
        assert!(matches!(
            err,
            FrameError::Truncated {
                expected: 4,
                got: 2
            }
        ));
        let err = read_frame(&mut &[][..], &mut buf, DEFAULT_MAX_FRAME).unwrap_err();
        assert!(matches!(err, FrameError::Closed));
    }

    #[test]
    fn a_whole_frame_is_seen_only_when_all_of_it_is_buffered() {
        let bytes = frame(&Reply::Done, &7u64);
        let len = bytes.len() - PREFIX;
        assert_eq!(whole_frame(&bytes, DEFAULT_MAX_FRAME), Some(len));
        let mut two = bytes.clone();
        two.extend_from_slice(&bytes);
        assert_eq!(whole_frame(&two, DEFAULT_MAX_FRAME), Some(len), "the first");
        for cut in 0..bytes.len() {
            assert_eq!(whole_frame(&bytes[..cut], DEFAULT_MAX_FRAME), None, "{cut}");
        }
        // Over the limit: left for the reader, which reports it.
        assert_eq!(whole_frame(&bytes, len - 1), None);
    }

    #[test]
    fn garbage_is_an_error_value() {
        let bytes = [3u8, 0, 0, 0, 0xff, 0xff, 0xff];
        let mut buf = Vec::new();
        read_frame(&mut &bytes[..], &mut buf, DEFAULT_MAX_FRAME).unwrap();
        let err = split::<Reply<'_>>(&buf).unwrap_err();
        assert!(err.to_string().starts_with("garbage frame"), "{err}");
    }
}
