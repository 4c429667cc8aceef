//! The `scale` group (#13): diff, validate, sync and migrate at a million users, each figure a
//! ratio against a raw csv `ByteRecord` pass over the same files, measured in the same run.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use super::{measure, Measured};

const USERS: usize = 1_000_000;
const EXPORT_HEADER: &str =
    "agent_id,extension,name,first_name,last_name,phone_number,password,start_time,end_time,sms_alert";

/// A TeleCMI export of `users` users, sorted by key as the walker writes them. `day` 1 is the
/// next night: every 200th user left, every 200th other one changed phone, 0.5% more joined.
/// `shuffled` writes the same users in a scrambled order, as a re-saved sheet might hold them.
fn write_export(path: &Path, users: usize, day: usize, shuffled: bool) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "{EXPORT_HEADER}").unwrap();
    let total = users + day * users / 200;
    let mut order: Vec<usize> = (0..total).collect();
    if shuffled {
        // A fixed permutation: multiply by a number prime to the length.
        let step = (1..)
            .map(|k| 7919 * k + 1)
            .find(|s| gcd(*s, total) == 1)
            .unwrap();
        order = (0..total).map(|i| i * step % total).collect();
    }
    for i in order {
        if day == 1 && i < users && i % 200 == 0 {
            continue;
        }
        let phone = if day == 1 && i % 200 == 100 {
            99_000_000 + i
        } else {
            i
        };
        let extension = 100_000 + i;
        writeln!(
            out,
            "{extension}_1111112,{extension},Agent {i} Rao,Agent {i},Rao,9198{phone:08},,9,18,true"
        )
        .unwrap();
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Seconds for a raw csv pass over `paths`: the parse floor every figure is divided by.
fn parse_floor(paths: &[&Path]) -> f64 {
    let started = Instant::now();
    for path in paths {
        let mut reader = csv::Reader::from_path(path).unwrap();
        let mut record = csv::ByteRecord::new();
        while reader.read_byte_record(&mut record).unwrap() {}
    }
    started.elapsed().as_secs_f64()
}

fn report(what: &str, m: &Measured, floor: f64, target: f64, rss_target: f64) {
    println!(
        "scale: {what}: {:.2} s = {:.2}x the parse floor ({floor:.2} s; target <= {target}x), peak RSS {:.0} MB (target <= {rss_target:.0}), exit {}",
        m.seconds,
        m.seconds / floor,
        m.peak_rss_mb,
        m.code
    );
}

fn diff(dir: &Path) {
    let old = dir.join("old.csv");
    let new = dir.join("new.csv");
    let shuffled = dir.join("new-shuffled.csv");
    write_export(&old, USERS, 0, false);
    write_export(&new, USERS, 1, false);
    write_export(&shuffled, USERS, 1, true);
    for (label, new) in [("sorted", &new), ("shuffled", &shuffled)] {
        let floor = parse_floor(&[&old, new]);
        let (old, new) = (old.to_str().unwrap(), new.to_str().unwrap());
        let m = measure(&["-q", "diff", old, new, "--json"], &[]);
        report(
            &format!("diff --json, 1,000,000 users vs a night later ({label})"),
            &m,
            floor,
            3.0,
            256.0,
        );
        let changes = dir.join("changes.csv");
        let m = measure(
            &[
                "-q",
                "diff",
                old,
                new,
                "--output",
                changes.to_str().unwrap(),
            ],
            &[],
        );
        report(
            &format!("diff --output changes.csv ({label})"),
            &m,
            floor,
            3.0,
            256.0,
        );
    }
}

pub fn run() {
    let dir = tempfile::tempdir().unwrap();
    diff(dir.path());
}
