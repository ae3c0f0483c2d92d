package io.stomprelay.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** Process CPU time (user + system) read from {@code /proc/<pid>/stat}, in milliseconds. */
final class ProcCpu {

	/** Linux USER_HZ is 100 on every mainstream kernel. */
	private static final long MS_PER_TICK = 10;

	private ProcCpu() {
	}

	/** CPU milliseconds used so far by {@code pid}, or -1 if it can't be read. */
	static long cpuMillis(long pid) {
		try {
			String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
			String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
			// after "pid (comm) ": f[0]=state ... utime is field 14 overall -> f[11], stime f[12]
			return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * MS_PER_TICK;
		}
		catch (Exception ex) {
			return -1;
		}
	}

	/** One reading for each named pid. */
	static Map<String, Long> snapshot(Map<String, Long> pids) {
		Map<String, Long> out = new LinkedHashMap<>();
		pids.forEach((name, pid) -> out.put(name, cpuMillis(pid)));
		return out;
	}

}
