import { testOurDesigns } from './our-designs.js';

testOurDesigns('passthrough');
