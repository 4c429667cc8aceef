//! Text encodings of real spreadsheet exports: detection from the first bytes, and a streaming
//! transcoder to UTF-8 so the CSV reader only ever sees UTF-8.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::num::NonZeroUsize;
use std::sync::{Arc, OnceLock};

use encoding_rs::{Decoder, Encoding, UTF_16BE, UTF_16LE, WINDOWS_1252};

/// The encoding a file is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TextEncoding {
    /// Detect: BOM, UTF-16 without BOM, else UTF-8 or Windows-1252 as the whole file votes
    /// (well-formed UTF-8 characters against stray bytes)
    Auto,
    #[value(name = "utf-8")]
    Utf8,
    #[value(name = "utf-16le")]
    Utf16Le,
    #[value(name = "utf-16be")]
    Utf16Be,
    #[value(name = "windows-1252")]
    Windows1252,
}

impl TextEncoding {
    /// The name `--encoding` takes and the summary shows.
    pub fn name(self) -> &'static str {
        match self {
            TextEncoding::Auto => "auto",
            TextEncoding::Utf8 => "utf-8",
            TextEncoding::Utf16Le => "utf-16le",
            TextEncoding::Utf16Be => "utf-16be",
            TextEncoding::Windows1252 => "windows-1252",
        }
    }

    fn encoding(self) -> Option<&'static Encoding> {
        match self {
            TextEncoding::Utf16Le => Some(UTF_16LE),
            TextEncoding::Utf16Be => Some(UTF_16BE),
            TextEncoding::Windows1252 => Some(WINDOWS_1252),
            TextEncoding::Auto | TextEncoding::Utf8 => None,
        }
    }
}

/// What the first bytes of a file say about it.
#[derive(Debug, PartialEq, Eq)]
pub enum Sniffed {
    Text {
        encoding: TextEncoding,
        bom_len: usize,
    },
    /// Not a text file at all; the string names what it looks like.
    Binary(&'static str),
}

/// Guess the encoding of a file from its first bytes (`head` may end mid-character).
pub fn sniff(head: &[u8]) -> Sniffed {
    if head.starts_with(b"PK\x03\x04") {
        return Sniffed::Binary("an Excel workbook (.xlsx) or another zip archive");
    }
    if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Sniffed::Binary("a legacy Excel workbook (.xls)");
    }
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Sniffed::Text {
            encoding: TextEncoding::Utf8,
            bom_len: 3,
        };
    }
    if head.starts_with(&[0xFF, 0xFE]) {
        return Sniffed::Text {
            encoding: TextEncoding::Utf16Le,
            bom_len: 2,
        };
    }
    if head.starts_with(&[0xFE, 0xFF]) {
        return Sniffed::Text {
            encoding: TextEncoding::Utf16Be,
            bom_len: 2,
        };
    }
    // UTF-16 without a BOM: ASCII-range text leaves every other byte zero.
    let pairs = head.len() / 2;
    if pairs >= 2 {
        let zero_even = head.iter().step_by(2).filter(|&&b| b == 0).count();
        let zero_odd = head.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
        if zero_odd * 10 >= pairs * 7 && zero_even * 10 < pairs {
            return Sniffed::Text {
                encoding: TextEncoding::Utf16Le,
                bom_len: 0,
            };
        }
        if zero_even * 10 >= pairs * 7 && zero_odd * 10 < pairs {
            return Sniffed::Text {
                encoding: TextEncoding::Utf16Be,
                bom_len: 0,
            };
        }
    }
    // Text of any 8-bit encoding holds a NUL at most by accident; a start that is mostly NUL is
    // a binary file or a device (`/dev/zero`), not a sheet with a few damaged cells.
    if head.iter().filter(|&&b| b == 0).count() * 4 > head.len() {
        return Sniffed::Binary("a binary file (mostly NUL bytes)");
    }
    let encoding = match std::str::from_utf8(head) {
        Ok(_) => TextEncoding::Utf8,
        // Cut off mid-character at the end of the sample: still UTF-8.
        Err(e) if e.error_len().is_none() => TextEncoding::Utf8,
        Err(_) => TextEncoding::Windows1252,
    };
    Sniffed::Text {
        encoding,
        bom_len: 0,
    }
}

/// What a whole file says about whether it is UTF-8: counted over every byte, not a sample, so
/// that one stray byte deep in a UTF-8 file cannot turn it into Windows-1252 mojibake.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Evidence {
    /// Well-formed sequences of two bytes or more.
    pub multibyte: u64,
    /// Bytes that are not part of any well-formed sequence.
    pub invalid: u64,
}

impl Utf8Evidence {
    /// Scan `head` and then the rest of `more`, a chunk at a time.
    pub fn of(head: &[u8], more: &mut impl Read) -> io::Result<Utf8Evidence> {
        let mut evidence = Utf8Evidence::default();
        let mut carry = evidence.scan(head, false);
        let mut chunk = vec![0; 1024 * 1024];
        loop {
            let n = more.read(&mut chunk)?;
            carry = if carry.is_empty() {
                evidence.scan(&chunk[..n], n == 0)
            } else {
                carry.extend_from_slice(&chunk[..n]);
                evidence.scan(&carry, n == 0)
            };
            if n == 0 {
                return Ok(evidence);
            }
        }
    }

    /// [`Utf8Evidence::of`] `head` and the rest of `file` from `after` (where `head` ends in
    /// it), in a part on each core. The counts are the same: every part but the first starts at
    /// an ASCII byte, which continues no sequence, and a sequence cut short by it counts as the
    /// same bad bytes at a part's end. The file's cursor is left at `after`, where its reader
    /// goes on: the parts read at offsets, which move the cursor on some systems (Windows), and
    /// a clone of a file shares it.
    pub fn of_file(head: &[u8], file: &File, after: u64) -> io::Result<Utf8Evidence> {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        let evidence = Utf8Evidence::of_file_in(head, file, after, cores as u64);
        let mut file = file;
        file.seek(io::SeekFrom::Start(after))?;
        evidence
    }

    fn of_file_in(head: &[u8], file: &File, start: u64, cores: u64) -> io::Result<Utf8Evidence> {
        let size = file.metadata()?.len();
        let mut bounds = vec![start];
        if size.saturating_sub(start) >= SCANNED_IN_PARTS_FROM {
            for part in 1..cores {
                let guess = start + (size - start) * part / cores;
                let last = *bounds.last().expect("starts with the first part's");
                match next_ascii_at(file, guess)? {
                    Some(at) if at > last && at < size => bounds.push(at),
                    _ => {}
                }
            }
        }
        // The last part reads to the end, however far the file has grown.
        bounds.push(u64::MAX);
        let part = |index: usize| Part {
            file,
            at: bounds[index],
            end: bounds[index + 1],
        };
        std::thread::scope(|scope| {
            let others: Vec<_> = (1..bounds.len() - 1)
                .map(|index| scope.spawn(move || Utf8Evidence::of(&[], &mut part(index))))
                .collect();
            let mut evidence = Utf8Evidence::of(head, &mut part(0))?;
            for other in others {
                let other = other
                    .join()
                    .unwrap_or_else(|panicked| std::panic::resume_unwind(panicked))?;
                evidence.multibyte += other.multibyte;
                evidence.invalid += other.invalid;
            }
            Ok(evidence)
        })
    }

    /// Count `bytes`; returns an unfinished sequence at the end to carry into the next chunk
    /// (none when `last`).
    fn scan(&mut self, mut bytes: &[u8], last: bool) -> Vec<u8> {
        // Most sheets are ASCII throughout, which this tells several times faster than decoding.
        if bytes.is_ascii() {
            return Vec::new();
        }
        loop {
            let (valid, rest) = match std::str::from_utf8(bytes) {
                Ok(text) => (text.as_bytes(), &[][..]),
                Err(e) => bytes.split_at(e.valid_up_to()),
            };
            self.multibyte += valid.iter().filter(|&&b| b >= 0xC0).count() as u64;
            if rest.is_empty() {
                return Vec::new();
            }
            match std::str::from_utf8(rest) {
                Err(e) if e.valid_up_to() == 0 => {
                    let bad = e.error_len().unwrap_or(if last { rest.len() } else { 0 });
                    if bad == 0 {
                        return rest.to_vec();
                    }
                    self.invalid += bad as u64;
                    bytes = &rest[bad..];
                }
                _ => unreachable!("the valid prefix was split off"),
            }
        }
    }

    /// UTF-8 when its well-formed multi-byte characters outnumber its bad bytes (a stray byte or
    /// a damaged row in a UTF-8 file); Windows-1252 when they do not. Text written in
    /// Windows-1252 almost never forms a well-formed sequence by chance, while each of its
    /// accented letters is a bad byte, so a vote by count holds for small files too, where a
    /// share of the non-ASCII bytes would swing on a single byte.
    pub fn verdict(self) -> TextEncoding {
        let utf8 = self.invalid < self.multibyte.max(1);
        if utf8 {
            TextEncoding::Utf8
        } else {
            TextEncoding::Windows1252
        }
    }
}

/// A file whose first bytes are ASCII, read with its vote between UTF-8 and Windows-1252 (see
/// [`Utf8Evidence`]) put off to its first byte that is not: every byte before that one reads
/// the same in both, so the vote over the bytes from there on is the whole file's. A sheet that
/// is ASCII throughout, as most are, is then read once instead of twice.
pub struct VotedAtFirstNonAscii {
    reading: Reading,
    /// The file again, to count the evidence ahead of what has been read.
    file: File,
    /// Bytes read while every one was ASCII: where the next one is in the file (it has no BOM).
    read: u64,
    verdict: Arc<OnceLock<TextEncoding>>,
}

enum Reading {
    /// Every byte so far is ASCII.
    Ascii(Box<dyn Read + Send>),
    /// The vote is in: the rest, from the first byte that is not ASCII, in its encoding.
    Decided(Box<dyn Read + Send>),
}

impl VotedAtFirstNonAscii {
    /// Reads `body`, the bytes of `file` from its start; the verdict is set once it is found
    /// (UTF-8 when the end comes first).
    pub fn new(body: Box<dyn Read + Send>, file: File) -> (Self, Arc<OnceLock<TextEncoding>>) {
        let verdict = Arc::new(OnceLock::new());
        let reader = VotedAtFirstNonAscii {
            reading: Reading::Ascii(body),
            file,
            read: 0,
            verdict: Arc::clone(&verdict),
        };
        (reader, verdict)
    }
}

impl Read for VotedAtFirstNonAscii {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let body = match &mut self.reading {
            Reading::Decided(rest) => return rest.read(buf),
            Reading::Ascii(body) => body,
        };
        let n = body.read(buf)?;
        // Whether all are ASCII is the faster test, and the answer for almost every read.
        let Some(first) = (!buf[..n].is_ascii())
            .then(|| buf[..n].iter().position(|b| !b.is_ascii()))
            .flatten()
        else {
            if n == 0 && !buf.is_empty() {
                // The file is ASCII throughout: there was nothing to vote on.
                let _ = self.verdict.set(TextEncoding::Utf8);
            }
            self.read += n as u64;
            return Ok(n);
        };
        let after = self.read + n as u64;
        let taken = std::mem::replace(body, Box::new(io::empty()));
        let verdict = match Utf8Evidence::of_file(&buf[first..n], &self.file, after) {
            Ok(evidence) => evidence.verdict(),
            Err(error) => {
                // Nothing of this read is given: a read after the error gets all of it again.
                let again = io::Cursor::new(buf[..n].to_vec()).chain(taken);
                self.reading = Reading::Ascii(Box::new(again));
                return Err(error);
            }
        };
        let unread = io::Cursor::new(buf[first..n].to_vec()).chain(taken);
        self.reading = Reading::Decided(utf8_reader(Box::new(unread), verdict));
        let _ = self.verdict.set(verdict);
        match first {
            // Nothing before it to give: the decided reading gives what follows.
            0 => self.read(buf),
            _ => Ok(first),
        }
    }
}

/// Files of fewer bytes are scanned on one thread: starting threads would cost more than they
/// save.
const SCANNED_IN_PARTS_FROM: u64 = 4 << 20;

/// Where the first ASCII byte at or after `at` is, looking a little way only.
fn next_ascii_at(file: &File, at: u64) -> io::Result<Option<u64>> {
    let mut window = vec![0; 64 * 1024];
    let n = read_at(file, &mut window, at)?;
    Ok(window[..n]
        .iter()
        .position(u8::is_ascii)
        .map(|offset| at + offset as u64))
}

/// Bytes `at..end` of a file, read without moving its cursor, so that parts of one file can be
/// read at once.
struct Part<'f> {
    file: &'f File,
    at: u64,
    end: u64,
}

impl Read for Part<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let wanted = buf
            .len()
            .min(usize::try_from(self.end - self.at).unwrap_or(usize::MAX));
        let n = read_at(self.file, &mut buf[..wanted], self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, at)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, at)
}

/// Decode `bytes` (a whole sample) to text in the given encoding, for sniffing the delimiter.
pub fn decode_sample(bytes: &[u8], encoding: TextEncoding) -> String {
    match encoding.encoding() {
        Some(enc) => enc.decode_without_bom_handling(bytes).0.into_owned(),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Wrap `inner` so that it yields UTF-8 whatever `encoding` it is in.
pub fn utf8_reader(inner: Box<dyn Read + Send>, encoding: TextEncoding) -> Box<dyn Read + Send> {
    match encoding.encoding() {
        Some(enc) => Box::new(Transcoder {
            inner,
            decoder: enc.new_decoder_without_bom_handling(),
            input: vec![0; 64 * 1024],
            output: Vec::new(),
            position: 0,
            finished: false,
        }),
        None => inner,
    }
}

struct Transcoder {
    inner: Box<dyn Read + Send>,
    decoder: Decoder,
    input: Vec<u8>,
    output: Vec<u8>,
    position: usize,
    finished: bool,
}

impl Read for Transcoder {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.position == self.output.len() {
            if self.finished {
                return Ok(0);
            }
            let n = self.inner.read(&mut self.input)?;
            let last = n == 0;
            let capacity = self
                .decoder
                .max_utf8_buffer_length(n)
                .ok_or_else(|| io::Error::other("input chunk too large to transcode"))?;
            self.output.resize(capacity, 0);
            let (_, read, written, _) =
                self.decoder
                    .decode_to_utf8(&self.input[..n], &mut self.output, last);
            debug_assert_eq!(read, n, "the output buffer is sized for the whole chunk");
            self.output.truncate(written);
            self.position = 0;
            self.finished = last;
        }
        let n = buf.len().min(self.output.len() - self.position);
        buf[..n].copy_from_slice(&self.output[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(bytes: &[u8]) -> TextEncoding {
        let (head, rest) = bytes.split_at(bytes.len().min(5));
        Utf8Evidence::of(head, &mut &rest[..]).unwrap().verdict()
    }

    #[test]
    fn the_whole_file_decides_the_encoding() {
        let mut utf8 = "name\nZoë Ødegård\nJosé\n".repeat(200).into_bytes();
        assert_eq!(verdict(&utf8), TextEncoding::Utf8);
        utf8.extend_from_slice(b"Bad \xe9 row\n");
        assert_eq!(
            verdict(&utf8),
            TextEncoding::Utf8,
            "one stray byte is a bad row"
        );
        assert_eq!(verdict(b"name\nJos\xe9\n"), TextEncoding::Windows1252);
        assert_eq!(verdict(b"name\nplain ascii\n"), TextEncoding::Utf8);
        let mostly_bad = [&b"Zo\xc3\xab "[..], &b"\xe9\xe8\xe0 ".repeat(20)].concat();
        assert_eq!(verdict(&mostly_bad), TextEncoding::Windows1252);
    }

    #[test]
    fn a_character_split_between_chunks_is_still_one_sequence() {
        let text = "ज़ोया देसाई".repeat(30_000);
        let evidence = Utf8Evidence::of(&[], &mut text.as_bytes()).unwrap();
        assert_eq!(evidence.invalid, 0);
        assert_eq!(
            evidence.multibyte,
            text.chars().filter(|c| !c.is_ascii()).count() as u64
        );
    }

    #[test]
    fn counted_in_parts_the_evidence_is_the_same() {
        // Every kind of byte run, in an order from a fixed seed: ASCII, whole characters of two
        // to four bytes, sequences cut short, stray continuation bytes, and runs of non-ASCII
        // longer than the window a part's start is looked for in.
        let pieces: [&[u8]; 7] = [
            b"plain, ascii\n",
            "Zoë Ødegård".as_bytes(),
            "ज़ोया 😀".as_bytes(),
            b"\xE2\x82",
            b"\x80\xBF",
            b"\xF0\x9F\x98",
            &"देसाई".repeat(30_000).into_bytes(),
        ];
        let mut seed = 7u64;
        let mut bytes = Vec::new();
        while bytes.len() < 2 * SCANNED_IN_PARTS_FROM as usize {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let piece = pieces[(seed >> 33) as usize % pieces.len()];
            // The long run only now and then.
            if piece.len() < 1000 || seed.is_multiple_of(50) {
                bytes.extend_from_slice(piece);
            }
        }
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &bytes).unwrap();
        for head_len in [0, 5, 4096] {
            let (head, rest) = bytes.split_at(head_len);
            let whole = Utf8Evidence::of(head, &mut &rest[..]).unwrap();
            assert!(whole.multibyte > 0 && whole.invalid > 0, "{whole:?}");
            for parts in [1, 2, 3, 7, 64] {
                assert_eq!(
                    Utf8Evidence::of_file_in(head, &file, head_len as u64, parts).unwrap(),
                    whole,
                    "{parts} parts after a head of {head_len} bytes"
                );
            }
        }
    }

    /// Reads `reader` in reads of at most `step` bytes.
    fn read_in_steps(mut reader: impl Read, step: usize) -> Vec<u8> {
        let (mut out, mut buf) = (Vec::new(), vec![0; step]);
        loop {
            match reader.read(&mut buf).unwrap() {
                0 => return out,
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    proptest::proptest! {
        /// A vote put off to the first byte that is not ASCII finds what the vote over the whole
        /// file finds, and the text reads the same: ASCII runs of any length (across the 64 KiB
        /// head, across reads) before and between bytes of either encoding and of neither.
        #[test]
        fn a_vote_put_off_finds_and_reads_what_the_whole_file_vote_does(
            ascii_first in proptest::prop_oneof![0usize..300, 60_000usize..140_000],
            pieces in proptest::collection::vec(0usize..6, 0..40),
            step in proptest::prop_oneof![1usize..9, 4096usize..300_000],
        ) {
            let kinds: [&[u8]; 6] = [
                b"plain, ascii\n",
                "Zoë Ødegård".as_bytes(),
                b"Jos\xe9 \x80uro",
                "ज़ोया 😀".as_bytes(),
                b"\xE2\x82",
                &b"x".repeat(70_000),
            ];
            let mut bytes = b"a,b\n".repeat(ascii_first / 4);
            for piece in pieces {
                bytes.extend_from_slice(kinds[piece]);
            }
            let whole = Utf8Evidence::of(&[], &mut &bytes[..]).unwrap().verdict();
            let expected = read_in_steps(utf8_reader(Box::new(io::Cursor::new(bytes.clone())), whole), 1 << 16);
            let mut file = tempfile::tempfile().unwrap();
            std::io::Write::write_all(&mut file, &bytes).unwrap();
            // As a sheet is read: the body reads the file that the vote reads a clone of.
            let ahead = file.try_clone().unwrap();
            file.rewind().unwrap();
            let (reader, verdict) = VotedAtFirstNonAscii::new(Box::new(file), ahead);
            let read = read_in_steps(reader, step);
            proptest::prop_assert_eq!(verdict.get().copied(), Some(whole));
            proptest::prop_assert!(read == expected, "the text differs ({} and {} bytes)", read.len(), expected.len());
        }
    }

    fn utf16le(text: &str, bom: bool) -> Vec<u8> {
        let mut bytes = if bom { vec![0xFF, 0xFE] } else { vec![] };
        bytes.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
        bytes
    }

    #[test]
    fn detects_boms_and_bomless_utf16() {
        assert_eq!(
            sniff(b"\xEF\xBB\xBFa,b"),
            Sniffed::Text {
                encoding: TextEncoding::Utf8,
                bom_len: 3
            }
        );
        assert_eq!(
            sniff(&utf16le("extension\tname\r\n", true)),
            Sniffed::Text {
                encoding: TextEncoding::Utf16Le,
                bom_len: 2
            }
        );
        assert_eq!(
            sniff(&utf16le("extension,name\n", false)),
            Sniffed::Text {
                encoding: TextEncoding::Utf16Le,
                bom_len: 0
            }
        );
        assert!(matches!(sniff(b"PK\x03\x04rest"), Sniffed::Binary(_)));
    }

    #[test]
    fn non_utf8_start_is_windows_1252_but_a_cut_character_is_not() {
        assert_eq!(
            sniff(b"name\nJos\xE9\n"),
            Sniffed::Text {
                encoding: TextEncoding::Windows1252,
                bom_len: 0
            }
        );
        assert_eq!(
            sniff("name\nJos\u{e9}".as_bytes()),
            Sniffed::Text {
                encoding: TextEncoding::Utf8,
                bom_len: 0
            }
        );
        assert_eq!(
            sniff(&"é".as_bytes()[..1]),
            Sniffed::Text {
                encoding: TextEncoding::Utf8,
                bom_len: 0
            }
        );
    }

    #[test]
    fn transcodes_utf16_in_small_reads() {
        let text = "extension,name\n101,Zoë Ødegård\n102,अनिल\n".repeat(3000);
        let bytes = utf16le(&text, false);
        let mut reader = utf8_reader(Box::new(io::Cursor::new(bytes)), TextEncoding::Utf16Le);
        let mut out = Vec::new();
        let mut chunk = [0u8; 7];
        loop {
            let n = reader.read(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(String::from_utf8(out).unwrap(), text);
    }
}
