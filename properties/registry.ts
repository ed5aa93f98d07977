/**
 * The design registry: every built-in design, by id. Sound designs are expected to hold,
 * flawed ones to be caught.
 */
import type { AnyDesign } from '../src/design.js';
import { xenLookup, xenMap } from './xengt/designs.js';

export const designs: readonly AnyDesign[] = [xenMap, xenLookup];

export function findDesign(id: string): AnyDesign | undefined {
  return designs.find((design) => design.id === id);
}
