// TcpCommunicator: ranks as threads of this process (and one forked process for a killed peer).
#include "kernels/cpu/tcp_comm.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace sparsescale::kernels {
namespace {

std::string TempPath(const std::string& tag) {
  return (std::filesystem::temp_directory_path() /
          absl::StrCat("tcp_comm_test_", tag, "_", ::getpid()))
      .string();
}

// Joins `world` ranks (threads) through the two-phase API and runs body(rank, comm) on each.
void RunRanks(int world, const TcpCommOptions& options,
              const std::function<void(int, Communicator&)>& body) {
  auto rank0 = TcpCommListener::Listen(0, world, "", options);
  ASSERT_TRUE(rank0.ok()) << rank0.status();
  const std::string address = (*rank0)->address();
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      std::unique_ptr<TcpCommListener> listener;
      if (r == 0) {
        listener = std::move(*rank0);
      } else {
        auto l = TcpCommListener::Listen(r, world, "", options);
        ASSERT_TRUE(l.ok()) << l.status();
        listener = std::move(*l);
      }
      auto comm = listener->Join(address);
      ASSERT_TRUE(comm.ok()) << "rank " << r << ": " << comm.status();
      EXPECT_EQ((*comm)->rank(), r);
      EXPECT_EQ((*comm)->world_size(), world);
      body(r, **comm);
    });
  }
  for (auto& t : threads) {
    t.join();
  }
}

float Value(int rank, size_t i) {
  return static_cast<float>(((i * 2654435761u + static_cast<size_t>(rank) * 97) % 2001)) * 1e-3f -
         1.0f;
}

TEST(TcpCommTest, AllReduceSumGivesEveryRankTheSameBitsCloseToTheExactSum) {
  constexpr int kWorld = 3;
  // Sizes below the world size (empty chunks), odd, and over several 1 MiB segments.
  const std::vector<size_t> sizes = {0, 1, 2, 7, 1000, 3 * (size_t{1} << 18) * kWorld + 11};
  std::vector<std::vector<std::vector<float>>> results(kWorld);
  RunRanks(kWorld, {}, [&](int r, Communicator& comm) {
    for (size_t n : sizes) {
      std::vector<float> x(n);
      for (size_t i = 0; i < n; ++i) {
        x[i] = Value(r, i);
      }
      ASSERT_TRUE(comm.AllReduceSum(x.data(), n).ok());
      results[static_cast<size_t>(r)].push_back(std::move(x));
    }
  });
  for (size_t k = 0; k < sizes.size(); ++k) {
    const auto& x0 = results[0][k];
    for (int r = 1; r < kWorld; ++r) {
      ASSERT_EQ(results[static_cast<size_t>(r)][k], x0) << "n=" << sizes[k] << " rank " << r;
    }
    for (size_t i = 0; i < x0.size(); i += 997) {
      double exact = 0;
      for (int r = 0; r < kWorld; ++r) {
        exact += Value(r, i);
      }
      EXPECT_NEAR(x0[i], exact, 1e-5) << "n=" << sizes[k] << " i=" << i;
    }
  }
}

TEST(TcpCommTest, SameInputsGiveTheSameBitsOnEveryRun) {
  std::vector<float> first, second;
  for (auto* out : {&first, &second}) {
    RunRanks(4, {}, [&](int r, Communicator& comm) {
      std::vector<float> x(4099);
      for (size_t i = 0; i < x.size(); ++i) {
        x[i] = Value(r, i) * 0.37f;
      }
      ASSERT_TRUE(comm.AllReduceSum(x.data(), x.size()).ok());
      ASSERT_TRUE(comm.Barrier().ok());
      if (r == 2) {
        *out = x;
      }
    });
  }
  EXPECT_EQ(first, second);
}

TEST(TcpCommTest, WorldSizeOneIsANoOp) {
  auto comm = ConnectTcpCommunicator(CommConfig{0, 1, ""});
  ASSERT_TRUE(comm.ok()) << comm.status();
  std::vector<float> x = {1, 2, 3};
  ASSERT_TRUE((*comm)->AllReduceSum(x.data(), x.size()).ok());
  EXPECT_EQ(x, (std::vector<float>{1, 2, 3}));
  EXPECT_TRUE((*comm)->Barrier().ok());
  EXPECT_TRUE(absl::IsInvalidArgument((*comm)->AllReduceSum(nullptr, 3)));
}

TEST(TcpCommTest, FileRendezvousJoinsRanksStartedInAnyOrderAndRemovesTheFile) {
  const std::string path = TempPath("file");
  std::filesystem::remove(path);
  constexpr int kWorld = 3;
  std::vector<float> sums(kWorld);
  std::vector<std::thread> threads;
  for (int r = kWorld - 1; r >= 0; --r) {  // rank 0 last: the others wait for the file
    threads.emplace_back([&, r] {
      auto comm = ConnectTcpCommunicator(CommConfig{r, kWorld, "file:" + path});
      ASSERT_TRUE(comm.ok()) << comm.status();
      float x = static_cast<float>(r + 1);
      ASSERT_TRUE((*comm)->AllReduceSum(&x, 1).ok());
      sums[static_cast<size_t>(r)] = x;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(sums, (std::vector<float>{6, 6, 6}));
  EXPECT_FALSE(std::filesystem::exists(path));
}

// An in-memory stand-in for the coordinator's Rendezvous RPC: rank 0's value reaches the others.
class MemoryExchange {
 public:
  RendezvousExchange ForRank(int rank) {
    return [this, rank](const std::string& value) -> absl::StatusOr<std::string> {
      if (rank == 0) {
        published_.set_value(value);
        return value;
      }
      return seen_.get();
    };
  }

 private:
  std::promise<std::string> published_;
  std::shared_future<std::string> seen_ = published_.get_future().share();
};

TEST(TcpCommTest, ExchangeCarriesRankZerosAddressAndTheRanksAllReduce) {
  constexpr int kWorld = 3;
  MemoryExchange exchange;
  std::vector<std::vector<float>> results(kWorld);
  std::vector<std::thread> threads;
  for (int r = kWorld - 1; r >= 0; --r) {  // rank 0 last: the others block in the exchange
    threads.emplace_back([&, r] {
      CommConfig config{r, kWorld, "file:/nonexistent/never-used", exchange.ForRank(r)};
      auto comm = ConnectTcpCommunicator(config);
      ASSERT_TRUE(comm.ok()) << "rank " << r << ": " << comm.status();
      std::vector<float> x = {static_cast<float>(r + 1), static_cast<float>(10 * r)};
      ASSERT_TRUE((*comm)->AllReduceSum(x.data(), x.size()).ok());
      results[static_cast<size_t>(r)] = x;
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  for (const auto& x : results) {
    EXPECT_EQ(x, (std::vector<float>{6, 30}));
  }
}

TEST(TcpCommTest, ExchangeErrorIsReturnedNamingTheRendezvous) {
  CommConfig config{1, 2, "", [](const std::string&) -> absl::StatusOr<std::string> {
                      return absl::DeadlineExceededError("rank 0 never published");
                    }};
  auto comm = ConnectTcpCommunicator(config);
  ASSERT_TRUE(absl::IsDeadlineExceeded(comm.status())) << comm.status();
  EXPECT_NE(comm.status().message().find("rendezvous"), std::string::npos) << comm.status();
  EXPECT_NE(comm.status().message().find("rank 0 never published"), std::string::npos);
}

TEST(TcpCommTest, ExchangeAnswerThatIsNotAnAddressIsInvalidArgument) {
  CommConfig config{1, 2, "", [](const std::string&) -> absl::StatusOr<std::string> {
                      return std::string("not-an-address");
                    }};
  auto comm = ConnectTcpCommunicator(config);
  ASSERT_TRUE(absl::IsInvalidArgument(comm.status())) << comm.status();
  EXPECT_NE(comm.status().message().find("rank 0's address"), std::string::npos);
}

TEST(TcpCommTest, EnvRendezvousReadsRankWorldAndAddressFromTheEnvironment) {
  // A free port: bind port 0, note it, release it (rank 0 rebinds it with SO_REUSEADDR).
  std::string address;
  {
    auto probe = TcpCommListener::Listen(0, 2, "127.0.0.1:0", {});
    ASSERT_TRUE(probe.ok());
    address = (*probe)->address();
  }
  ::setenv("SPARSESCALE_RENDEZVOUS", address.c_str(), 1);
  ::setenv("SPARSESCALE_RANK", "1", 1);
  ::setenv("SPARSESCALE_WORLD_SIZE", "2", 1);
  auto config = RendezvousConfigFromEnv();
  ::unsetenv("SPARSESCALE_RANK");
  ::unsetenv("SPARSESCALE_WORLD_SIZE");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->rank, 1);
  EXPECT_EQ(config->world_size, 2);
  EXPECT_EQ(config->rendezvous, "env");
  std::vector<float> got(2);
  std::thread other([&] {
    auto comm = ConnectTcpCommunicator(CommConfig{0, 2, "env"});
    ASSERT_TRUE(comm.ok()) << comm.status();
    float x = 10;
    ASSERT_TRUE((*comm)->AllReduceSum(&x, 1).ok());
    got[0] = x;
  });
  auto comm = ConnectTcpCommunicator(*config);
  ASSERT_TRUE(comm.ok()) << comm.status();
  float x = 5;
  ASSERT_TRUE((*comm)->AllReduceSum(&x, 1).ok());
  got[1] = x;
  other.join();
  ::unsetenv("SPARSESCALE_RENDEZVOUS");
  EXPECT_EQ(got, (std::vector<float>{15, 15}));
}

TEST(TcpCommTest, EnvRendezvousMayNameAFile) {
  const std::string path = TempPath("envfile");
  std::filesystem::remove(path);
  ::setenv("SPARSESCALE_RENDEZVOUS", ("file:" + path).c_str(), 1);
  std::vector<float> got(2);
  std::thread other([&] {
    auto comm = ConnectTcpCommunicator(CommConfig{1, 2, "env"});
    ASSERT_TRUE(comm.ok()) << comm.status();
    float x = 2;
    ASSERT_TRUE((*comm)->AllReduceSum(&x, 1).ok());
    got[1] = x;
  });
  auto comm = ConnectTcpCommunicator(CommConfig{0, 2, "env"});
  ASSERT_TRUE(comm.ok()) << comm.status();
  float x = 1;
  ASSERT_TRUE((*comm)->AllReduceSum(&x, 1).ok());
  got[0] = x;
  other.join();
  ::unsetenv("SPARSESCALE_RENDEZVOUS");
  EXPECT_EQ(got, (std::vector<float>{3, 3}));
}

TEST(TcpCommTest, BadConfigurationIsInvalidArgumentNamingTheProblem) {
  auto bad_kind = ConnectTcpCommunicator(CommConfig{0, 2, "carrier-pigeon"});
  ASSERT_TRUE(absl::IsInvalidArgument(bad_kind.status()));
  EXPECT_NE(bad_kind.status().message().find("rendezvous"), std::string::npos);
  auto bad_rank = ConnectTcpCommunicator(CommConfig{2, 2, "file:/tmp/x"});
  ASSERT_TRUE(absl::IsInvalidArgument(bad_rank.status()));
  EXPECT_NE(bad_rank.status().message().find("rank"), std::string::npos);
  auto bad_address = ConnectTcpCommunicator(CommConfig{1, 2, "tcp:localhost"});
  EXPECT_TRUE(absl::IsInvalidArgument(bad_address.status())) << bad_address.status();
  ::setenv("SPARSESCALE_WORLD_SIZE", "two", 1);
  auto env = RendezvousConfigFromEnv();
  ::unsetenv("SPARSESCALE_WORLD_SIZE");
  ASSERT_TRUE(absl::IsInvalidArgument(env.status()));
  EXPECT_NE(env.status().message().find("SPARSESCALE_WORLD_SIZE"), std::string::npos);
}

TEST(TcpCommTest, MissingRankZeroIsDeadlineExceeded) {
  TcpCommOptions options;
  options.connect_timeout_ms = 150;
  const std::string path = TempPath("never");
  std::filesystem::remove(path);
  const auto start = std::chrono::steady_clock::now();
  auto comm = ConnectTcpCommunicator(CommConfig{1, 2, "file:" + path}, options);
  EXPECT_TRUE(absl::IsDeadlineExceeded(comm.status())) << comm.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(TcpCommTest, StuckPeerMakesTheCollectiveInternalAfterTheIoTimeout) {
  TcpCommOptions options;
  options.io_timeout_ms = 150;
  RunRanks(2, options, [](int r, Communicator& comm) {
    if (r == 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(600));  // never calls AllReduceSum
      return;
    }
    std::vector<float> x(16, 1.0f);
    const absl::Status s = comm.AllReduceSum(x.data(), x.size());
    EXPECT_TRUE(absl::IsInternal(s)) << s;
    EXPECT_NE(s.message().find("rank 1"), std::string::npos) << s;
    const absl::Status again = comm.AllReduceSum(x.data(), x.size());
    EXPECT_TRUE(absl::IsInternal(again));
    EXPECT_NE(again.message().find("unusable"), std::string::npos) << again;
  });
}

TEST(TcpCommTest, MismatchedCollectivesAreInternalOnBothRanks) {
  RunRanks(2, {}, [](int r, Communicator& comm) {
    std::vector<float> x(static_cast<size_t>(4 + r), 1.0f);
    const absl::Status s = comm.AllReduceSum(x.data(), x.size());
    EXPECT_TRUE(absl::IsInternal(s)) << s;
    EXPECT_NE(s.message().find("same collectives"), std::string::npos) << s;
  });
}

TEST(TcpCommTest, KilledPeerProcessMakesTheCollectiveUnavailableNotHang) {
  const std::string path = TempPath("killed");
  std::filesystem::remove(path);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto comm = ConnectTcpCommunicator(CommConfig{1, 2, "file:" + path});
    if (!comm.ok()) {
      ::_exit(3);
    }
    ::pause();  // joined; waits to be killed
    ::_exit(0);
  }
  auto comm = ConnectTcpCommunicator(CommConfig{0, 2, "file:" + path});
  ASSERT_TRUE(comm.ok()) << comm.status();
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFSIGNALED(wstatus));
  std::vector<float> x(1 << 20, 1.0f);
  const auto start = std::chrono::steady_clock::now();
  const absl::Status s = (*comm)->AllReduceSum(x.data(), x.size());
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_NE(s.message().find("rank 1"), std::string::npos) << s;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace sparsescale::kernels
