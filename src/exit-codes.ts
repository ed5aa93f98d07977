/**
 * The CLI's exit statuses, one per way a run can end; `--help` and the README list them. When
 * designs end differently, the most serious wins: a crash, then an expectation contradicted, then
 * an undecided search.
 */
export const EXIT_MET = 0;
/** A verdict contradicts its design's expectation: a sound design broke, a flawed one was not caught. */
export const EXIT_UNMET = 1;
/** Bad usage: unknown verb or flag, bad value, unknown design, unusable output path, bad corpus file. */
export const EXIT_USAGE = 2;
/** A design's own code threw (its model, resolution or an invariant). */
export const EXIT_CRASHED = 3;
/** Nothing contradicts an expectation, but a search could not decide one (cut short, kinds unexecuted, too shallow). */
export const EXIT_INCONCLUSIVE = 4;
/** Stopped by SIGINT or SIGTERM; what was found so far is printed. */
export const EXIT_INTERRUPTED = 130;

/** What one design's run came to, for the exit status. */
export type Outcome = 'met' | 'unmet' | 'crashed' | 'inconclusive';

export function exitStatus(outcomes: readonly Outcome[]): number {
  if (outcomes.includes('crashed')) return EXIT_CRASHED;
  if (outcomes.includes('unmet')) return EXIT_UNMET;
  if (outcomes.includes('inconclusive')) return EXIT_INCONCLUSIVE;
  return EXIT_MET;
}

export const exitStatusHelp = `Exit status:
  0    every design met its expectation (a sound design held, a flawed one broke every invariant it declares)
  1    a verdict contradicts an expectation (a sound design violated, a flawed design not caught)
  2    bad usage (unknown verb, flag, value or design; unusable output path; malformed corpus file)
  3    crashed: a design's own code threw (the error is shrunk and reported like a violation)
  4    inconclusive: nothing contradicts an expectation, but a search could not decide one
       (time limit, a command kind never executed, a state limit, a depth below the shortest counterexample)
  130  interrupted by Ctrl-C or SIGTERM: what was found so far is printed, with the seed`;
