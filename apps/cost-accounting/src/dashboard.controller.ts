import { dirname, join } from 'node:path';
import { Controller, Get, Param, NotFoundException, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from './http-types';

// uPlot from node_modules, served by us: the dashboard works with no internet access.
const UPLOT_DIR = join(dirname(require.resolve('uplot/package.json')), 'dist');
const FILES: Record<string, string> = {
  'app.js': join(__dirname, 'dashboard', 'app.js'),
  'style.css': join(__dirname, 'dashboard', 'style.css'),
  'uPlot.iife.min.js': join(UPLOT_DIR, 'uPlot.iife.min.js'),
  'uPlot.min.css': join(UPLOT_DIR, 'uPlot.min.css'),
};

/** The analyst dashboard: a static page that reads the analyst API with the key it is given. */
@ApiExcludeController()
@Controller()
export class DashboardController {
  @Get()
  root(@Res() res: Response): void {
    res.redirect('/dashboard/');
  }

  @Get('dashboard')
  page(@Res() res: Response): void {
    res.sendFile(join(__dirname, 'dashboard', 'index.html'));
  }

  @Get('dashboard/:file')
  file(@Param('file') file: string, @Res() res: Response): void {
    const path = FILES[file];
    if (!path) throw new NotFoundException();
    res.sendFile(path);
  }
}
