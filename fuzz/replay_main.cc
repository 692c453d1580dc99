// Replays committed fuzz inputs through a target's LLVMFuzzerTestOneInput without libFuzzer,
// then optionally runs a short, bounded, seeded mutation run over them:
//   fuzz_replay_<target> [--mutate-seconds S] [--mutate-runs N] [--seed K] [--dict FILE]
//                        DIR_OR_FILE...
// Directories are read in name order (missing ones are skipped); exits 1 when no input was found
// at all, so an emptied corpus fails loudly instead of passing.
//
// The mutation run is what CI can afford without a clang build: it is not coverage-guided (that
// is libFuzzer's job in bench/fuzz/run.sh), it applies random byte-level mutations (bit flips,
// interesting values, inserts, erases, dictionary tokens, splices of two inputs) to the
// replayed inputs for at most S seconds or N inputs, under whatever sanitizers the build has.
// Before each input runs it is kept in memory; a crash (a sanitizer abort, SIGSEGV, a failed
// SPARSESCALE_FUZZ_CHECK) writes it to $SPARSESCALE_FUZZ_CRASH_DIR (default: the working
// directory) as crash-<binary name>.bin and prints the path, to be committed to
// fuzz/regressions/<target>/ once fixed. The same seed gives the same inputs.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "fuzz/fuzz_target.h"

namespace {

std::vector<std::filesystem::path> InputsOf(const std::filesystem::path& arg) {
  std::vector<std::filesystem::path> inputs;
  std::error_code ec;
  if (std::filesystem::is_directory(arg, ec)) {
    for (const auto& entry : std::filesystem::directory_iterator(arg)) {
      if (entry.is_regular_file()) inputs.push_back(entry.path());
    }
    std::sort(inputs.begin(), inputs.end());
  } else if (std::filesystem::is_regular_file(arg, ec)) {
    inputs.push_back(arg);
  }
  return inputs;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Tokens of a libFuzzer dictionary: one quoted string per line (an optional name= before it),
// with \\, \" and \xNN escapes; comments and blank lines skipped.
std::vector<std::string> ReadDictionary(const std::filesystem::path& path) {
  std::vector<std::string> tokens;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const size_t open = line.find('"');
    const size_t close = line.rfind('"');
    if (line.empty() || line[0] == '#' || open == std::string::npos || close <= open) continue;
    std::string token;
    for (size_t i = open + 1; i < close; ++i) {
      if (line[i] != '\\' || i + 1 >= close) {
        token += line[i];
      } else if (line[i + 1] == 'x' && i + 3 < close) {
        token += static_cast<char>(std::stoi(line.substr(i + 2, 2), nullptr, 16));
        i += 3;
      } else {
        token += line[++i];
      }
    }
    if (!token.empty()) tokens.push_back(token);
  }
  return tokens;
}

// The input being run, for the crash handler (written with async-signal-safe calls only).
const std::string* g_current = nullptr;
char g_crash_path[4096] = {0};

void OnCrash(int signal) {
  if (g_current != nullptr && g_crash_path[0] != 0) {
    const int fd = ::open(g_crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ssize_t ignored = ::write(fd, g_current->data(), g_current->size());
      (void)ignored;
      ::close(fd);
      const char kSaved[] = "\nfuzz_replay: the crashing input is in ";
      ignored = ::write(2, kSaved, sizeof(kSaved) - 1);
      ignored = ::write(2, g_crash_path, std::strlen(g_crash_path));
      ignored = ::write(2, "\n", 1);
    }
  }
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

class Mutator {
 public:
  Mutator(uint64_t seed, const std::vector<std::string>* corpus,
          const std::vector<std::string>* dictionary)
      : rng_(seed), corpus_(corpus), dictionary_(dictionary) {}

  std::string Next() {
    std::string data = (*corpus_)[Below(corpus_->size())];
    const int steps = 1 + static_cast<int>(Below(4));
    for (int i = 0; i < steps; ++i) MutateOnce(&data);
    return data;
  }

 private:
  size_t Below(size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

  void MutateOnce(std::string* data) {
    static const uint8_t kInteresting[] = {0, 1, 0x7f, 0x80, 0xff, '0', '9', '-', '"', '{', ','};
    const size_t size = data->size();
    switch (Below(7)) {
      case 0:  // flip one bit
        if (size > 0) (*data)[Below(size)] ^= static_cast<char>(1u << Below(8));
        break;
      case 1:  // an interesting byte
        if (size > 0) (*data)[Below(size)] = static_cast<char>(kInteresting[Below(sizeof(kInteresting))]);
        break;
      case 2:  // insert random bytes
        data->insert(Below(size + 1), std::string(1 + Below(8), static_cast<char>(Below(256))));
        break;
      case 3:  // erase a range
        if (size > 0) {
          const size_t at = Below(size);
          data->erase(at, 1 + Below(std::min<size_t>(size - at, 32)));
        }
        break;
      case 4:  // a dictionary token, inserted or overwriting
        if (!dictionary_->empty()) {
          const std::string& token = (*dictionary_)[Below(dictionary_->size())];
          const size_t at = Below(size + 1);
          if (Below(2) == 0 || at + token.size() > size) {
            data->insert(at, token);
          } else {
            data->replace(at, token.size(), token);
          }
        }
        break;
      case 5: {  // splice: this input's head, another input's tail
        const std::string& other = (*corpus_)[Below(corpus_->size())];
        *data = data->substr(0, Below(size + 1)) + other.substr(Below(other.size() + 1));
        break;
      }
      default:  // duplicate a range
        if (size > 0) {
          const size_t at = Below(size);
          const std::string piece = data->substr(at, 1 + Below(std::min<size_t>(size - at, 64)));
          data->insert(Below(size + 1), piece);
        }
        break;
    }
  }

  std::mt19937_64 rng_;
  const std::vector<std::string>* corpus_;
  const std::vector<std::string>* dictionary_;
};

struct Options {
  double mutate_seconds = 0;
  long mutate_runs = 0;  // 0: no bound but the time
  uint64_t seed = 1;
  std::filesystem::path dictionary;
  std::vector<std::filesystem::path> paths;
};

bool ParseOptions(int argc, char** argv, Options* options) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--mutate-seconds" && has_value) {
      options->mutate_seconds = std::stod(argv[++i]);
    } else if (arg == "--mutate-runs" && has_value) {
      options->mutate_runs = std::stol(argv[++i]);
    } else if (arg == "--seed" && has_value) {
      options->seed = std::stoull(argv[++i]);
    } else if (arg == "--dict" && has_value) {
      options->dictionary = argv[++i];
    } else if (arg.rfind("--", 0) == 0) {
      std::cerr << "unknown or incomplete option " << arg << "\n";
      return false;
    } else {
      options->paths.emplace_back(arg);
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!ParseOptions(argc, argv, &options)) return 2;
  std::vector<std::string> corpus;
  for (const auto& arg : options.paths) {
    for (const auto& path : InputsOf(arg)) corpus.push_back(ReadFile(path));
  }
  const std::string target = std::filesystem::path(argv[0]).filename().string();
  const char* dir = std::getenv("SPARSESCALE_FUZZ_CRASH_DIR");
  std::snprintf(g_crash_path, sizeof(g_crash_path), "%s/crash-%s.bin", dir != nullptr ? dir : ".",
                target.c_str());
  for (int signal : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) std::signal(signal, OnCrash);

  for (const std::string& bytes : corpus) {
    g_current = &bytes;
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  std::cout << "replayed " << corpus.size() << " inputs\n";
  if (corpus.empty()) {
    std::cerr << "no inputs found in the given paths\n";
    return 1;
  }
  if (options.mutate_seconds <= 0 && options.mutate_runs <= 0) return 0;

  const std::vector<std::string> dictionary =
      options.dictionary.empty() ? std::vector<std::string>{} : ReadDictionary(options.dictionary);
  Mutator mutator(options.seed, &corpus, &dictionary);
  const auto start = std::chrono::steady_clock::now();
  const auto deadline =
      start + std::chrono::duration<double>(options.mutate_seconds > 0 ? options.mutate_seconds : 1e9);
  long runs = 0;
  std::string input;
  g_current = &input;
  while ((options.mutate_runs <= 0 || runs < options.mutate_runs) &&
         std::chrono::steady_clock::now() < deadline) {
    input = mutator.Next();
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
    ++runs;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "mutated " << runs << " inputs in " << seconds << " s (seed " << options.seed
            << ", " << dictionary.size() << " dictionary tokens), no finding\n";
  return 0;
}
