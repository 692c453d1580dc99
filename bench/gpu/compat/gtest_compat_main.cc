// main() for tests built against the stand-in GoogleTest.
#include "standin/gtest.h"

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
