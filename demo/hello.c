/* The smallest useful image: one static binary, nothing else. */
#include <unistd.h>

int main(void)
{
	static const char msg[] = "Hello from lfs!\n";
	return write(1, msg, sizeof msg - 1) == sizeof msg - 1 ? 0 : 1;
}
