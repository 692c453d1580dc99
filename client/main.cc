// `sparsescale`: the one command-line entry point. Subcommands live in cmd_*.cc files.
#include <cstdio>
#include <string>

#include "client/command.h"
#include "common/version.h"

namespace sparsescale::cli {

std::vector<CommandInstaller>& CommandInstallers() {
  static std::vector<CommandInstaller> installers;
  return installers;
}

}  // namespace sparsescale::cli

int main(int argc, char** argv) {
  CLI::App app{"sparsescale: sparse-scaling studies end to end"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("sparsescale ") + sparsescale::kVersion);
  for (auto installer : sparsescale::cli::CommandInstallers()) {
    installer(app);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    // A command's own failure (a ParseError subclass in CLI11): its exit code as is.
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with exit code 0 in CLI11.
    return app.exit(e) == 0 ? sparsescale::cli::kExitOk : sparsescale::cli::kExitUsage;
  }
  return 0;
}
