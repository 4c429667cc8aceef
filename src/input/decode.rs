//! Text encodings of real spreadsheet exports: detection from the first bytes, and a streaming
//! transcoder to UTF-8 so the CSV reader only ever sees UTF-8.

use std::io::{self, Read};

use encoding_rs::{Decoder, Encoding, UTF_16BE, UTF_16LE, WINDOWS_1252};

/// The encoding a file is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TextEncoding {
    /// Detect: BOM, UTF-16 without BOM, else UTF-8 (Windows-1252 when the start is not UTF-8).
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
