use std::process::ExitCode;

use clap::Parser;
use roster::cli::Cli;
use roster::Console;

// Reading phone numbers and planning allocate millions of small strings: under glibc's malloc a
// million-user sync spent a third of its time in the allocator (13.3 s, 1,018 MB; with mimalloc
// 10.0 s, 876 MB).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h (v2 and v3 alike; the sys crate names no constant).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, roster::cli::Command::Migrate(_)) {
        // A migration's freed memory goes back to the system at once, not after a delay that a
        // run allocating steadily seldom lets pass: a million-user migration frees its source
        // users chunk by chunk while it makes the users to create, and peaked at 504-590 MB by
        // luck of timing (494-500 with this). Other commands free and reuse memory in a steady
        // churn, where purging at once only has the system zero the same pages again (diff and
        // validate ran 10-20% slower).
        // SAFETY: sets one integer option; mimalloc reads it on each purge.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
    #[cfg(target_os = "linux")]
    if matches!(cli.command, roster::cli::Command::Validate(_)) {
        // Each of validate's threads reads and checks its own rows, in memory of its own: as
        // transparent huge pages, each thread's few megabytes took whole 2 MB pages, and a
        // 10-million-row check peaked at 76 MB (59 MB without; no slower). mimalloc chose huge
        // pages before `main`; the kernel honours this on every page touched from now on.
        // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
    roster::init_logging(&cli.global);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("roster: error: cannot start the async runtime: {e}");
            return ExitCode::from(roster::Exit::NothingSent.code());
        }
    };
    let (mut stdout, mut stderr) = (roster::PipeOut::new(std::io::stdout()), std::io::stderr());
    let mut console = Console {
        out: &mut stdout,
        err: &mut stderr,
    };
    let result = runtime.block_on(roster::run(cli, &mut console));
    // A reader thread may still be blocked on input after a forced stop: do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    let _ = console.out.flush();
    match result {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(failure) => {
            eprintln!("roster: error: {failure}");
            ExitCode::from(failure.exit.code())
        }
    }
}
