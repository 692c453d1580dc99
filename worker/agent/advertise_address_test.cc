#include "worker/agent/advertise_address.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace sparsescale::agent {
namespace {

// An IPv4 address of this machine other than loopback, or "" when it has none.
std::string NonLoopbackAddress() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) {
    return "";
  }
  std::string found;
  for (ifaddrs* i = list; i != nullptr && found.empty(); i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) {
      continue;
    }
    const in_addr a = reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr;
    if ((ntohl(a.s_addr) >> 24) != 127) {
      char text[INET_ADDRSTRLEN] = {};
      inet_ntop(AF_INET, &a, text, sizeof(text));
      found = text;
    }
  }
  freeifaddrs(list);
  return found;
}

TEST(AdvertiseAddressTest, ACoordinatorOnLoopbackByNameOrNumberGivesLoopback) {
  EXPECT_EQ(DetectAdvertiseAddress("localhost:7070").value(), "127.0.0.1");
  EXPECT_EQ(DetectAdvertiseAddress("127.0.0.1:1").value(), "127.0.0.1");
  EXPECT_EQ(DetectAdvertiseAddress("dns:///localhost:7070").value(), "127.0.0.1");
}

TEST(AdvertiseAddressTest, ACoordinatorOnAnotherInterfaceGivesThatInterfacesAddress) {
  const std::string address = NonLoopbackAddress();
  if (address.empty()) {
    GTEST_SKIP() << "this machine has no IPv4 address besides loopback";
  }
  absl::StatusOr<std::string> detected = DetectAdvertiseAddress(absl::StrCat(address, ":7070"));
  ASSERT_TRUE(detected.ok()) << detected.status();
  EXPECT_EQ(*detected, address);  // the route's source address, not 127.0.0.1
}

TEST(AdvertiseAddressTest, MalformedOrUnresolvableCoordinatorsAreErrors) {
  EXPECT_EQ(DetectAdvertiseAddress("no-port").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DetectAdvertiseAddress(":7070").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DetectAdvertiseAddress("no-such-host.invalid:7070").status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(AdvertiseAddressTest, OnlyDottedIpv4AddressesAreAdvertised) {
  EXPECT_TRUE(CheckAdvertiseAddress("10.1.2.3").ok());
  for (const char* bad : {"", "node7", "::1", "10.1.2"}) {
    absl::Status s = CheckAdvertiseAddress(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.message().rfind("--advertise-address: ", 0), 0u) << s;
  }
}

}  // namespace
}  // namespace sparsescale::agent
