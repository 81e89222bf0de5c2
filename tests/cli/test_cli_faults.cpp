// Faults end to end on stories260K (greedy, so runs compare byte for byte): a second
// writer is refused by the output's lock; hostile outputs (an index far beyond the
// input, repeated indices, a missing or damaged manifest) are refused with what to
// do; a run that fails before its first record leaves nothing behind; a full disk is
// a fatal error that leaves a resumable file; damaged inputs give an error record or
// a fatal error naming the byte offset; a merged incomplete set resumes into order.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <filesystem>
#include <thread>
#include <tuple>

#include "cli/cli_test_util.h"

using sb::test::read_file;
using sb::test::records_by_index;
using sb::test::run_cli;
using sb::test::shell_quote;
using sb::test::stories_model;
using sb::test::write_file;
using sb::test::zstd_frame;

namespace {

std::string prompts(int n, int first = 0) {
  std::string s;
  for (int i = first; i < first + n; ++i)
    s += "{\"id\":\"r" + std::to_string(i) + "\",\"prompt\":\"Once upon a time " + std::to_string(i) +
         "\",\"max_tokens\":" + std::to_string(4 + i % 13) + "}\n";
  return s;
}

// Greedy, one thread, quiet, --max-seqs 4 unless `more` sets it.
std::vector<std::string> run_args(const std::string& input, const std::string& out,
                                  const std::vector<std::string>& more = {}) {
  std::vector<std::string> a = {"run", "-m", stories_model(), input, "-o", out, "--temperature", "0",
                                "--threads", "1", "-q"};
  if (std::find(more.begin(), more.end(), "--max-seqs") == more.end()) a.insert(a.end(), {"--max-seqs", "4"});
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

bool exists(const std::string& p) { return std::filesystem::exists(p); }

// Waits for an event (`happened` turns true) while the run `pid` is alive. The
// five-minute bound only keeps a broken run from hanging the suite.
template <typename Event>
void wait_for(pid_t pid, Event&& happened) {
  for (int ms = 0; !happened(); ++ms) {
    int status = 0;
    REQUIRE_MESSAGE(::waitpid(pid, &status, WNOHANG) == 0, "the run ended before the event");
    if (ms == 300000) ::kill(pid, SIGKILL);
    REQUIRE_MESSAGE(ms < 300000, "no event in five minutes: the run was killed");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

bool has_a_record(const std::string& path) { return read_file(path).find('\n') != std::string::npos; }


}  // namespace

TEST_CASE("one writer per output: a second run or a merge is refused at once while a run holds the output") {
  const std::string dir = sb::test::scratch_dir("faults_lock");
  const std::string out = dir + "/out.jsonl";
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  // The first run reads stdin, which stays open: it holds the lock until the test lets it end.
  const pid_t first = sb::test::spawn_cli(run_args("-", out), dir + "/log", pipe_fds[0]);
  ::close(pipe_fds[0]);
  const std::string lines = prompts(6);
  REQUIRE(::write(pipe_fds[1], lines.data(), lines.size()) == static_cast<ssize_t>(lines.size()));
  // The manifest is written after the lock is taken and the model loaded.
  wait_for(first, [&] { return exists(out + ".manifest.json"); });
  write_file(dir + "/in.jsonl", prompts(6));
  for (const std::vector<std::string>& flags :
       std::vector<std::vector<std::string>>{{"--resume"}, {"--overwrite"}, {}}) {
    auto second = run_cli(run_args(dir + "/in.jsonl", out, flags));
    CAPTURE(second.err);
    CHECK(second.exit_code == 1);
    CHECK(second.err.find(out + ": another specbatch run is writing this output") != std::string::npos);
  }
  write_file(dir + "/other.jsonl", "");
  auto merge = run_cli({"merge", dir + "/other.jsonl", "-o", out, "--overwrite"});
  CHECK(merge.exit_code == 1);
  CHECK(merge.err.find("another specbatch run is writing this output") != std::string::npos);
  ::close(pipe_fds[1]);  // end of input: the first run finishes alone
  CHECK(sb::test::wait_exit(first) == 0);
  CHECK(records_by_index(out).size() == 6);  // each index once
  for (const auto& e : std::filesystem::directory_iterator(dir))  // no temporaries left behind
    CHECK(e.path().filename().string().find(".tmp") == std::string::npos);
}

TEST_CASE("resume and merge refuse hostile outputs quickly and say what to do (issue 22, items 1, 8, 9)") {
  const std::string dir = sb::test::scratch_dir("faults_hostile");
  const std::string in = dir + "/in.jsonl", out = dir + "/out.jsonl", manifest = out + ".manifest.json";
  write_file(in, prompts(3));
  REQUIRE(run_cli(run_args(in, dir + "/ref.jsonl")).exit_code == 0);
  REQUIRE(run_cli(run_args(in, out)).exit_code == 0);
  const std::vector<std::string> ref = sb::test::split_lines(read_file(dir + "/ref.jsonl"));
  const std::string good_manifest = read_file(manifest);
  const auto resume = [&] { return run_cli(run_args(in, out, {"--resume"})); };

  // Item 1: an index of 2^64 - 1 was a dense set that size (std::bad_alloc); 4e9 cost 1 GB and was accepted.
  write_file(out, "{\"index\":18446744073709551615}\n");
  auto huge = resume();
  CHECK(huge.exit_code == 1);
  CHECK(huge.err.find("index 18446744073709551615, above any input's record count") != std::string::npos);
  write_file(out, ref[0] + "\n{\"index\":4000000000}\n");
  auto beyond = resume();
  CHECK(beyond.exit_code == 1);
  CHECK(beyond.err.find("holds a record with index 4000000000, but the input has only 3 records") != std::string::npos);
  auto merge_huge = run_cli({"merge", out, dir + "/ref.jsonl", "-o", dir + "/m.jsonl"});
  CHECK(merge_huge.exit_code == 3);  // beyond the 3 records its manifest counts
  CHECK(merge_huge.err.find("indices up to 4000000000 but only 3 were expected") != std::string::npos);

  // Item 8: repeated indices (two writers at once) are refused; merge keeps one line each, then resume fills in.
  write_file(manifest, good_manifest);
  write_file(out, ref[0] + "\n" + ref[0] + "\n" + ref[1] + "\n");
  auto dup = resume();
  CHECK(dup.exit_code == 1);
  CHECK(dup.err.find("1 records repeat an index written earlier in it") != std::string::npos);
  CHECK(dup.err.find("`specbatch merge " + out + " -o NEW`") != std::string::npos);
  auto fixed = run_cli({"merge", out, "-o", dir + "/fixed.jsonl"});
  CHECK(fixed.exit_code == 3);  // index 2 missing
  CHECK(read_file(dir + "/fixed.jsonl.manifest.json").find("\"complete\":\"false\"") != std::string::npos);
  CHECK(run_cli(run_args(in, dir + "/fixed.jsonl", {"--resume"})).exit_code == 0);
  CHECK(read_file(dir + "/fixed.jsonl") == read_file(dir + "/ref.jsonl"));

  // A missing, damaged or ambiguous manifest: refused, with what to do.
  write_file(out, ref[0] + "\n");
  std::filesystem::remove(manifest);
  auto missing = resume();
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("its manifest " + manifest + " is missing") != std::string::npos);
  CHECK(missing.err.find("Use --overwrite to start over") != std::string::npos);
  write_file(manifest, good_manifest.substr(0, good_manifest.size() / 2));
  auto damaged = resume();
  CHECK(damaged.exit_code == 1);
  CHECK(damaged.err.find("its manifest is damaged (" + manifest + ": not valid JSON)") != std::string::npos);
  CHECK(damaged.err.find("Restore the manifest, or use --overwrite to start over") != std::string::npos);
  std::string twice = good_manifest;
  twice.replace(twice.find("\"max_tokens\""), 0, "\"max_tokens\":\"1\",");
  write_file(manifest, twice);
  auto ambiguous = resume();
  CHECK(ambiguous.exit_code == 1);
  CHECK(ambiguous.err.find("key \"max_tokens\" appears twice in \"fingerprint\"") != std::string::npos);
  write_file(manifest, good_manifest);
  CHECK(resume().exit_code == 0);
  CHECK(read_file(out) == read_file(dir + "/ref.jsonl"));
}

TEST_CASE("a run that fails before its first record leaves nothing that blocks the retry") {
  const std::string dir = sb::test::scratch_dir("faults_early");
  const std::string out = dir + "/out.jsonl";
  // A plain file named .zst: the input fails at its first read, after the output was set up.
  write_file(dir + "/in.jsonl.zst", prompts(3));
  auto wrong = run_cli(run_args(dir + "/in.jsonl.zst", out));
  CHECK(wrong.exit_code == 1);
  CHECK(wrong.err.find("not a zstd stream") != std::string::npos);
  CHECK_FALSE(exists(out));
  CHECK_FALSE(exists(out + ".manifest.json"));
  // A model that does not load.
  write_file(dir + "/bad.gguf", "GGUF not really");
  write_file(dir + "/in.jsonl", prompts(3));
  std::vector<std::string> bad_model = run_args(dir + "/in.jsonl", out, {"--errors", dir + "/err.jsonl"});
  bad_model[2] = dir + "/bad.gguf";
  CHECK(run_cli(bad_model).exit_code == 1);
  CHECK_FALSE(exists(out));
  CHECK_FALSE(exists(dir + "/err.jsonl"));
  // An empty leftover without a manifest (a run killed before it wrote anything) holds nothing.
  write_file(out, "");
  CHECK(run_cli(run_args(dir + "/in.jsonl", out)).exit_code == 0);
  CHECK(records_by_index(out).size() == 3);
  // --overwrite with a bad input: the old output was to be replaced; nothing half-made remains.
  auto replaced = run_cli(run_args(dir + "/in.jsonl.zst", out, {"--overwrite"}));
  CHECK(replaced.exit_code == 1);
  CHECK_FALSE(exists(out));
  CHECK_FALSE(exists(out + ".manifest.json"));
  // A refused run changes nothing it found.
  REQUIRE(run_cli(run_args(dir + "/in.jsonl", out)).exit_code == 0);
  const std::string before = read_file(out);
  CHECK(run_cli(run_args(dir + "/in.jsonl", out)).exit_code == 1);
  auto same = run_cli(run_args(dir + "/in.jsonl", out, {"--resume", "--errors", out}));
  CHECK(same.exit_code == 2);  // the command line alone is wrong
  CHECK(same.err.find("is the output itself") != std::string::npos);
  CHECK(read_file(out) == before);
}

TEST_CASE("a full disk mid-run: exit 1 with a clear error, and the file resumes to the uninterrupted output") {
  const std::string dir = sb::test::scratch_dir("faults_full");
  write_file(dir + "/in.jsonl", prompts(120));
  REQUIRE(run_cli(run_args(dir + "/in.jsonl", dir + "/ref.jsonl")).exit_code == 0);
  // Room for about half of the output (16 KB plain, 5 KB as zstd) besides the manifest.
  for (const auto& [name, tmpfs_kib, ulimit_blocks] :
       {std::tuple<std::string, int, int>{"out.jsonl", 12, 24}, {"out.jsonl.zst", 8, 4}}) {
    CAPTURE(name);
    const std::string small = dir + "/small", copy = dir + "/copy";
    std::filesystem::remove_all(small);
    std::filesystem::remove_all(copy);
    std::filesystem::create_directories(small);
    std::filesystem::create_directories(copy);
    std::string cmd = shell_quote(SPECBATCH_BINARY);
    for (const std::string& a : run_args(dir + "/in.jsonl", small + "/" + name, {"--flush-records", "5"})) {
      cmd += ' ';
      cmd += shell_quote(a);
    }
    // A tiny tmpfs in a private mount namespace (a real ENOSPC); where namespaces are
    // not allowed, a file size limit (EFBIG) takes its place.
    const std::string script = "cd " + shell_quote(small) + " && " + cmd + " 2>" + shell_quote(dir + "/err") +
                               "; echo $? >" + shell_quote(dir + "/rc") + "; cp " + shell_quote(small) + "/* " +
                               shell_quote(copy) + "/";
    const std::string tmpfs = "unshare -rm sh -c " + shell_quote("mount -t tmpfs -o size=" + std::to_string(tmpfs_kib) +
                                                                  "k none " + shell_quote(small) + " && " + script);
    const bool namespaced = std::system((tmpfs + " 2>/dev/null").c_str()) == 0 && exists(dir + "/rc");
    if (!namespaced) {
      std::filesystem::remove_all(small);
      std::filesystem::create_directories(small);
      const std::string limited = "trap '' XFSZ; ulimit -f " + std::to_string(ulimit_blocks) + "; " + script;
      REQUIRE(std::system(("sh -c " + shell_quote(limited)).c_str()) == 0);
    }
    const std::string err = read_file(dir + "/err");
    MESSAGE(name << ": " << std::string(namespaced ? "a full tmpfs: " : "a file size limit: ") << err);
    CHECK(read_file(dir + "/rc") == "1\n");
    CHECK(err.find("cannot write " + small + "/" + name) != std::string::npos);
    CHECK(err.find(namespaced ? "No space left on device" : "File too large") != std::string::npos);
    const auto kept = records_by_index(copy + "/" + name);  // whole records only
    CHECK(kept.size() > 0);
    CHECK(kept.size() < 120);
    auto resumed = run_cli(run_args(dir + "/in.jsonl", copy + "/" + name, {"--resume"}));
    CHECK(resumed.exit_code == 0);
    CHECK(resumed.err.find("nothing to repair") != std::string::npos);
    CHECK(records_by_index(copy + "/" + name) == records_by_index(dir + "/ref.jsonl"));
  }
}

TEST_CASE("damaged inputs: a torn last line is an error record; a corrupt zstd frame stops the run at its offset") {
  const std::string dir = sb::test::scratch_dir("faults_input");
  const std::string whole = prompts(8);
  write_file(dir + "/torn.jsonl", whole.substr(0, whole.size() - 20));
  auto torn = run_cli(run_args(dir + "/torn.jsonl", dir + "/torn.out.jsonl"));
  CHECK(torn.exit_code == 3);
  const auto lines = sb::test::parse_output(read_file(dir + "/torn.out.jsonl"));
  REQUIRE(lines.size() == 8);
  CHECK(lines[7].error_code == "invalid_json");
  for (int i = 0; i < 7; ++i) CHECK_FALSE(lines[i].is_error);

  // Issue 22, item 7: damage found only by the frame checksum produced records before.
  const std::string first = zstd_frame(prompts(30));
  std::string second = zstd_frame(prompts(30, 30));
  for (size_t at = second.size() / 2;; ++at) {  // a flip that zstd decodes; only the checksum sees it
    REQUIRE(at < second.size() - 4);
    std::string bad = second;
    bad[at] = static_cast<char>(bad[at] ^ 1);
    std::string back(prompts(30, 30).size(), '\0');
    const size_t n = ZSTD_decompress(back.data(), back.size(), bad.data(), bad.size());
    if (ZSTD_isError(n) && ZSTD_getErrorCode(n) == ZSTD_error_checksum_wrong) {
      second = bad;
      break;
    }
  }
  write_file(dir + "/bad.jsonl.zst", first + second);
  auto bad = run_cli(run_args(dir + "/bad.jsonl.zst", dir + "/bad.out.jsonl"));
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("the zstd frame starting at byte " + std::to_string(first.size())) != std::string::npos);
  // Every record of the intact frame is finished and written, none of the damaged one.
  const auto done = records_by_index(dir + "/bad.out.jsonl");
  REQUIRE(done.size() == 30);
  CHECK(done.rbegin()->first == 29);
  CHECK(read_file(dir + "/bad.out.jsonl.manifest.json").find("\"complete\":\"false\"") != std::string::npos);
}

TEST_CASE("merge of an incomplete set is not marked complete; resuming the merged file restores input order") {
  const std::string dir = sb::test::scratch_dir("faults_merge");
  const std::string in = dir + "/in.jsonl";
  write_file(in, prompts(20));
  REQUIRE(run_cli(run_args(in, dir + "/all.jsonl")).exit_code == 0);
  for (int k = 0; k < 2; ++k)
    REQUIRE(run_cli(run_args(in, dir + "/s" + std::to_string(k) + ".jsonl", {"--shard", std::to_string(k) + "/2"}))
                .exit_code == 0);
  // Shard 1/2 lost its last records (as if it had been stopped).
  const std::vector<std::string> s1 = sb::test::split_lines(read_file(dir + "/s1.jsonl"));
  write_file(dir + "/s1.jsonl", s1[0] + "\n" + s1[1] + "\n" + s1[2] + "\n");
  auto merged = run_cli({"merge", dir + "/s0.jsonl", dir + "/s1.jsonl", "-o", dir + "/m.jsonl"});
  CHECK(merged.exit_code == 3);
  CHECK(merged.err.find("7 of 20 records missing, indices 7, 9, 11, 13, 15, 17, 19") != std::string::npos);
  CHECK(read_file(dir + "/m.jsonl.manifest.json").find("\"complete\":\"false\"") != std::string::npos);
  auto resumed = run_cli(run_args(in, dir + "/m.jsonl", {"--resume"}));
  CHECK(resumed.exit_code == 0);
  CHECK(read_file(dir + "/m.jsonl") == read_file(dir + "/all.jsonl"));
  CHECK(read_file(dir + "/m.jsonl.manifest.json").find("\"complete\":\"true\"") != std::string::npos);
  // A single shard's file keeps its shard, so it resumes as that shard.
  REQUIRE(run_cli({"merge", dir + "/s1.jsonl", "-o", dir + "/one.jsonl"}).exit_code == 3);
  CHECK(run_cli(run_args(in, dir + "/one.jsonl", {"--resume", "--shard", "1/2"})).exit_code == 0);
  CHECK(records_by_index(dir + "/one.jsonl").size() == 10);
}

namespace {

// The number after `label` in `text` ("stopping after 12 records" -> 12 for "stopping after ").
uint64_t number_after(const std::string& text, const std::string& label) {
  const size_t at = text.find(label);
  REQUIRE_MESSAGE(at != std::string::npos, label << " not in: " << text);
  return std::stoull(text.substr(at + label.size()));
}

}  // namespace

TEST_CASE("SIGTERM stops admitting at once: what has not started is left for --resume, what runs finishes") {
  const std::string dir = sb::test::scratch_dir("faults_term");
  std::string many;
  for (int i = 0; i < 300; ++i)
    many += "{\"prompt\":\"Once upon a time " + std::to_string(i) + "\",\"max_tokens\":40,\"ignore_eos\":true}\n";
  write_file(dir + "/in.jsonl", many);
  const std::vector<std::string> flags = {"--max-seqs", "2", "--order", "completion", "--flush-records", "1"};
  std::vector<std::string> args = run_args(dir + "/in.jsonl", dir + "/out.jsonl", flags);
  args.erase(std::find(args.begin(), args.end(), "-q"));  // the stop note goes to the log
  const pid_t pid = sb::test::spawn_cli(args, dir + "/log");
  wait_for(pid, [&] { return has_a_record(dir + "/out.jsonl"); });
  ::kill(pid, SIGTERM);
  CHECK(sb::test::wait_exit(pid) == 143);
  const std::string log = read_file(dir + "/log");
  CAPTURE(log);
  const uint64_t before = number_after(log, "SIGTERM: stopping after ");
  const uint64_t running = number_after(log, " records; ");
  const uint64_t left = number_after(log, " s to finish, ");
  CHECK(running <= 2);  // --max-seqs: the queued requests were dropped, not started
  CHECK(left >= 1);
  const size_t written = records_by_index(dir + "/out.jsonl").size();
  CHECK(written >= before);
  CHECK(written <= before + running);
  CHECK(read_file(dir + "/out.jsonl.manifest.json").find("\"complete\":\"false\"") != std::string::npos);
  // Nothing lost or repeated: the resumed file holds what an uninterrupted run writes.
  CHECK(run_cli(run_args(dir + "/in.jsonl", dir + "/out.jsonl", {"--resume", "--max-seqs", "2"})).exit_code == 0);
  REQUIRE(run_cli(run_args(dir + "/in.jsonl", dir + "/ref.jsonl", {"--max-seqs", "2"})).exit_code == 0);
  CHECK(records_by_index(dir + "/out.jsonl") == records_by_index(dir + "/ref.jsonl"));
}

TEST_CASE("a stop that comes after every record started: they finish, exit 0, the output is complete") {
  const std::string dir = sb::test::scratch_dir("faults_term_done");
  // The short record is written at once; the long one still runs when the signal comes.
  write_file(dir + "/in.jsonl", "{\"prompt\":\"Once\",\"max_tokens\":1}\n"
                                "{\"prompt\":\"Once upon\",\"max_tokens\":400,\"ignore_eos\":true}\n");
  std::vector<std::string> args =
      run_args(dir + "/in.jsonl", dir + "/out.jsonl", {"--order", "completion", "--flush-records", "1"});
  args.erase(std::find(args.begin(), args.end(), "-q"));
  const pid_t pid = sb::test::spawn_cli(args, dir + "/log");
  wait_for(pid, [&] { return has_a_record(dir + "/out.jsonl"); });
  ::kill(pid, SIGTERM);
  CHECK(sb::test::wait_exit(pid) == 0);
  const std::string log = read_file(dir + "/log");
  CAPTURE(log);
  CHECK(log.find("SIGTERM came after the last record had started, and every record finished") != std::string::npos);
  CHECK(records_by_index(dir + "/out.jsonl").size() == 2);
  CHECK(read_file(dir + "/out.jsonl.manifest.json").find("\"complete\":\"true\"") != std::string::npos);
}

TEST_CASE("a stop while the input pipe is stalled: the run stops at once, its records kept") {
  const std::string dir = sb::test::scratch_dir("faults_term_pipe");
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  const pid_t pid = sb::test::spawn_cli(run_args("-", dir + "/out.jsonl", {"--flush-records", "1"}), dir + "/log",
                                        pipe_fds[0]);
  ::close(pipe_fds[0]);
  const std::string lines = prompts(2);
  REQUIRE(::write(pipe_fds[1], lines.data(), lines.size()) == static_cast<ssize_t>(lines.size()));
  // Both records written: the run now waits for more input that does not come.
  wait_for(pid, [&] { return sb::test::split_lines(read_file(dir + "/out.jsonl")).size() == 2; });
  ::kill(pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 60000 && ::waitpid(pid, &status, WNOHANG) == 0; ++i)  // a hang guard, not a time check
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ::close(pipe_fds[1]);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 143);
  CHECK(records_by_index(dir + "/out.jsonl").size() == 2);
}

TEST_CASE("progress has a total from its first line, and an ETA once a record is done; zstd totals estimated") {
  const std::string dir = sb::test::scratch_dir("faults_progress");
  write_file(dir + "/in.jsonl", prompts(40));
  write_file(dir + "/in.jsonl.zst", zstd_frame(prompts(20)) + zstd_frame(prompts(20, 20)));
  // The first progress line, and the first one after a record was done.
  const auto progress_lines = [&](const std::string& input, const std::vector<std::string>& more) {
    std::vector<std::string> args = run_args(input, "-", {"--progress", "log", "--progress-interval", "0.001"});
    args.erase(std::find(args.begin(), args.end(), "-q"));
    args.erase(std::find(args.begin(), args.end(), "-o"), std::find(args.begin(), args.end(), "-o") + 2);
    args.insert(args.end(), more.begin(), more.end());
    auto r = run_cli(args);
    REQUIRE(r.exit_code == 0);
    std::vector<std::string> lines;
    for (const std::string& l : sb::test::split_lines(r.err)) {
      if (l.rfind("specbatch: progress: ", 0) != 0) continue;
      if (lines.empty() || (lines.size() == 1 && l.rfind("specbatch: progress: 0/", 0) != 0)) lines.push_back(l);
    }
    REQUIRE_MESSAGE(lines.size() == 2, r.err);
    return lines;
  };
  const std::vector<std::string> plain = progress_lines(dir + "/in.jsonl", {});
  CAPTURE(plain[0]);
  CAPTURE(plain[1]);
  CHECK(plain[0].find("/40 records") != std::string::npos);
  CHECK(plain[1].find("/40 records") != std::string::npos);
  CHECK(plain[1].find(", ETA ") != std::string::npos);
  CHECK(progress_lines(dir + "/in.jsonl", {"--shard", "1/3"})[0].find("/13 records") !=
        std::string::npos);  // indices 1, 4, ..., 37
  const std::vector<std::string> zstd = progress_lines(dir + "/in.jsonl.zst", {});
  CAPTURE(zstd[0]);
  CHECK(zstd[0].find("/~") != std::string::npos);
}
