/**
 * A program with one role of 9 hosts that are never reached (a preview does not connect): the
 * `--parallel` warning's real-tier test runs it as a CLI program (test/real/fixtures/parallel) and
 * as an Automation API inline program.
 */
import { AppService } from "../../sdk";

const HOSTS = Array.from({ length: 9 }, (_, i) => `10.99.0.${i + 1}`);
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

export function nineHostApp(): void {
  new AppService("app", {
    service: "par",
    image: "reg.test/par:v1",
    hosts: HOSTS,
    ssh: { privateKeyPath: "/nonexistent", hostKeys: Object.fromEntries(HOSTS.map((h) => [h, KEY])) },
  });
}
