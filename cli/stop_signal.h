// SIGINT/SIGTERM for `specbatch run`: the first signal only sets a flag that the run
// loop polls (stop admitting, finish in-flight records within --grace-seconds, flush,
// exit 130/143); a second signal exits at once with _exit(128 + signal), which the
// append-only output survives like a crash (resume cuts any torn tail).
#pragma once

namespace sb::cli {

// Installs the handlers (calling it again changes nothing).
void install_stop_signal_handlers();
// 0 while no signal arrived, else the first signal's number (SIGINT or SIGTERM).
int stop_signal_received();
// The exit status for a run stopped by `signal`: 130 for SIGINT, 143 for SIGTERM.
int exit_status_for_signal(int signal);

}  // namespace sb::cli
