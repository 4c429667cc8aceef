//! Deterministic seed users: the same index always gives the same user, on every run and machine.

use crate::sandbox::{SmartfloRecord, TelecmiRecord};

const FIRST: &[&str] = &[
    "Aarav",
    "Priya",
    "Rahul",
    "Sneha",
    "Vikram",
    "Ananya",
    "Arjun",
    "Kavya",
    "Rohan",
    "Meera",
    "Siddharth",
    "Pooja",
    "Karthik",
    "Divya",
    "Aditya",
    "Neha",
    "Suresh",
    "Lakshmi",
    "Manish",
    "Deepika",
    "Abishek",
    "Farhan",
    "Gurpreet",
    "Harini",
    "Imran",
    "Jaspreet",
    "Nikhil",
    "Ritu",
    "Sanjay",
    "Tanvi",
    "Varun",
    "Yamini",
];

const LAST: &[&str] = &[
    "Sharma",
    "Iyer",
    "Patel",
    "Reddy",
    "Nair",
    "Gupta",
    "Singh",
    "Kumar",
    "Menon",
    "Das",
    "Chatterjee",
    "Rao",
    "Pillai",
    "Joshi",
    "Khan",
    "Banerjee",
    "Mehta",
    "Verma",
    "Krishnan",
    "Bose",
    "Naidu",
    "Kulkarni",
    "Desai",
    "Fernandes",
];

/// Names that exercise encodings and quoting, with the ASCII login slug used for Smartflo.
const SPECIAL: &[(&str, &str)] = &[
    ("José Álvarez", "jose.alvarez"),
    ("Zoë Ødegård", "zoe.odegard"),
    ("अनिल कुमार", "anil.kumar"),
    ("Renée D'Souza", "renee.dsouza"),
    ("தமிழ் செல்வன்", "tamil.selvan"),
    ("Chloé Fernandes", "chloe.fernandes"),
    ("प्रिया शर्मा", "priya.sharma"),
    ("Anita \"Annie\" Thomas", "anita.thomas"),
    ("Łukasz Wójcik", "lukasz.wojcik"),
    ("Venkat Rao, Jr.", "venkat.rao"),
];

/// SplitMix64: a fixed, well-mixed hash of the index (no RNG state, no platform dependence).
fn mix(i: usize, salt: u64) -> u64 {
    let mut z = (i as u64) ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The display name and ASCII slug (`first.last`) of seed user `i`.
fn name(i: usize) -> (String, String) {
    if i % 7 == 2 {
        let (name, slug) = SPECIAL[(i / 7) % SPECIAL.len()];
        return (name.to_string(), slug.to_string());
    }
    let h = mix(i, 1);
    let first = FIRST[(h % FIRST.len() as u64) as usize];
    if i % 11 == 5 {
        // Some people are known by one name only (last_name "").
        return (first.to_string(), first.to_ascii_lowercase());
    }
    let last = LAST[((h >> 20) % LAST.len() as u64) as usize];
    (
        format!("{first} {last}"),
        format!(
            "{}.{}",
            first.to_ascii_lowercase(),
            last.to_ascii_lowercase()
        ),
    )
}

/// TeleCMI seed user `i`: extension `1001 + i`.
pub(crate) fn telecmi(i: usize) -> TelecmiRecord {
    let h = mix(i, 2);
    let (start_time, end_time) = match i % 4 {
        0 => (Some(9), Some(18)),
        1 => (Some(1), Some(24)),
        2 => (None, None),
        _ => (Some(10), Some(19)),
    };
    TelecmiRecord {
        extension: 1001 + i as u32,
        name: name(i).0,
        phone_number: format!("9198{:08}", h % 100_000_000),
        password: format!("Pass@{:06}", (h >> 32) % 1_000_000),
        start_time,
        end_time,
        sms_alert: (h >> 60) & 1 == 1,
    }
}

/// Smartflo seed user `i`: ids ascending from 314678 with uneven gaps.
pub(crate) fn smartflo(i: usize) -> SmartfloRecord {
    let h = mix(i, 3);
    let (name, slug) = name(i);
    let has_agent = i % 6 != 4;
    let (role_id, role_name) = match h % 10 {
        0..=6 => (54628, "Agent"),
        7 => (54629, "Supervisor"),
        8 => (54630, "Quality"),
        _ => (54631, "Admin"),
    };
    SmartfloRecord {
        id: 314_678 + 7 * i as u64 + (h >> 8) % 5,
        login_id: format!("{slug}{i}@example.com"),
        agent_id: has_agent.then(|| format!("05028{:08}", (42_370_097 + i) % 100_000_000)),
        agent_name: has_agent.then(|| name.clone()),
        agent_status: if has_agent {
            [0, 0, 0, 0, 4, 1, 2, 3][((h >> 12) % 8) as usize]
        } else {
            0
        },
        follow_me_number: (has_agent && i % 8 != 3)
            .then(|| format!("+9198{:08}", (h >> 16) % 100_000_000)),
        // About one user in five has no extension.
        extension: (i % 5 != 3).then(|| (2001 + i).to_string()),
        user_status: if i % 9 == 7 { 0 } else { 1 },
        role_id,
        role_name: role_name.to_string(),
        is_login_based_calling_enabled: (h >> 24).is_multiple_of(3),
        is_international_outbound_enabled: (h >> 28).is_multiple_of(4),
        is_web_login_enabled: !(h >> 32).is_multiple_of(3),
        name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_seeds_already_show_the_hard_cases() {
        let names: Vec<String> = (0..20).map(|i| telecmi(i).name).collect();
        assert!(names.iter().any(|n| !n.is_ascii()));
        assert!(names.iter().any(|n| !n.contains(' ')), "a single-word name");
        let sf: Vec<SmartfloRecord> = (0..10).map(smartflo).collect();
        assert!(sf.iter().any(|r| r.extension.is_none()));
        assert!(sf.iter().any(|r| r.agent_id.is_none()));
        assert!(sf.windows(2).all(|w| w[0].id < w[1].id));
        assert!(sf.iter().all(|r| r.login_id.is_ascii()));
        let t = telecmi(0);
        assert_eq!(t.extension, 1001);
        assert_eq!(t.phone_number.len(), 12);
        assert!(t.phone_number.starts_with("9198"));
    }
}
