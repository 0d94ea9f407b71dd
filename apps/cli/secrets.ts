import { Command } from 'commander';
import { InstallationSecrets } from '../../libs/secrets/installation-secrets';
import { CliState, UsageError, out, withInfrastructure } from './io';

export function registerSecrets(program: Command, _state: CliState): void {
  const secrets = program.command('secrets').description("the master key that wraps installations' data keys");
  secrets
    .command('rotate-master-key')
    .description(
      're-wrap every data key wrapped by SECRETS_PREVIOUS_MASTER_KEY with SECRETS_MASTER_KEY; the event log is not touched. ' +
        'Run with both set, then restart every process with the new SECRETS_MASTER_KEY alone.',
    )
    .option('--json', 'print { rewrapped, already_current } as JSON')
    .action(async (opts: { json?: boolean }) => {
      await withInfrastructure(async (infra) => {
        if (!infra.config.secrets.masterKey || !infra.config.secrets.previousMasterKey) {
          throw new UsageError('rotate-master-key needs SECRETS_MASTER_KEY (the new key) and SECRETS_PREVIOUS_MASTER_KEY (the key being replaced)');
        }
        const keyring = await InstallationSecrets.load(infra.pool, infra.config.secrets);
        const report = await keyring.rotate();
        await out(
          opts.json
            ? `${JSON.stringify({ rewrapped: report.rewrapped, already_current: report.alreadyCurrent })}\n`
            : `re-wrapped ${report.rewrapped} data key(s) with the new master key; ${report.alreadyCurrent} already used it\n`,
        );
      });
    });
}
