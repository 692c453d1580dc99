// Subcommand registry of the `sparsescale` command-line tool. Each cmd_*.cc file installs its
// subcommands into the root CLI11 app through a static CommandRegistrar, so adding a command
// touches no shared file. Not thread-safe; used only during static initialisation and main().
#pragma once

#include <vector>

#include <CLI/CLI.hpp>

namespace sparsescale::cli {

using CommandInstaller = void (*)(CLI::App& root);

std::vector<CommandInstaller>& CommandInstallers();

struct CommandRegistrar {
  explicit CommandRegistrar(CommandInstaller installer) {
    CommandInstallers().push_back(installer);
  }
};

// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;       // the operation failed (I/O, training diverged...)
inline constexpr int kExitUsage = 2;         // bad flags or bad input (invalid argument)
inline constexpr int kExitUnavailable = 3;   // coordinator unreachable / resource unavailable
inline constexpr int kExitNotFound = 4;      // the named job, sweep or file does not exist

}  // namespace sparsescale::cli
