#include <iostream>
#include "edgerun/edgerun.h"
int main(int argc, char** argv) { std::cout << "edgerun\n"; return 0; }
